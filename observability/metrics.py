"""Prometheus metrics, one registry for the process, served at /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

_FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_SLOW_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

INGRESS_REQUESTS = Counter(
    "larkdesk_ingress_requests_total", "Feishu callbacks by outcome", ["kind", "outcome"], registry=REGISTRY
)
INGRESS_LATENCY = Histogram(
    "larkdesk_ingress_ack_seconds", "Time to answer a Feishu callback", ["kind"],
    buckets=_FAST_BUCKETS, registry=REGISTRY,
)
EVENTS_PROCESSED = Counter(
    "larkdesk_events_processed_total", "Queued events by type and outcome", ["event_type", "outcome"],
    registry=REGISTRY,
)
EVENT_PROCESSING = Histogram(
    "larkdesk_event_processing_seconds", "Handler time per event type", ["event_type"],
    buckets=_SLOW_BUCKETS, registry=REGISTRY,
)
QUEUE_DEPTH = Gauge("larkdesk_queue_depth", "Entries in the event stream not yet acknowledged", registry=REGISTRY)
DEAD_LETTERS = Counter("larkdesk_dead_letters_total", "Entries moved to the dead-letter stream", registry=REGISTRY)
FEISHU_CALLS = Counter(
    "larkdesk_feishu_api_calls_total", "Outbound Feishu API calls", ["api", "outcome"], registry=REGISTRY
)
FEISHU_LATENCY = Histogram(
    "larkdesk_feishu_api_seconds", "Outbound Feishu API latency", ["api"], buckets=_SLOW_BUCKETS,
    registry=REGISTRY,
)
STEP_LATENCY = Histogram(
    "larkdesk_step_seconds", "Latency per conversation step", ["step"], buckets=_SLOW_BUCKETS, registry=REGISTRY
)
CACHE_LOOKUPS = Counter("larkdesk_cache_lookups_total", "Hot-query cache lookups", ["outcome"], registry=REGISTRY)
ANSWERS = Counter("larkdesk_answers_total", "Answers by decision", ["decision"], registry=REGISTRY)
LEARNED_SIGNALS = Counter("larkdesk_learned_signals_total",
                          "Learning signals (did-you-mean clicks, answer feedback, agents' picks) by kind", ["kind"],
                          registry=REGISTRY)
KNOWLEDGE_CHUNKS_EMBEDDED = Counter(
    "larkdesk_chunks_embedded_total", "Chunks embedded on ingest and sync", ["origin"], registry=REGISTRY
)

# Human desk, LLM usage and per-turn outcomes.
ESCALATIONS = Counter(
    "larkdesk_escalations_total", "Sessions handed over to agents", ["reason", "priority"], registry=REGISTRY
)
CLAIMS = Counter("larkdesk_claims_total", "Agent claim attempts on an escalation (won/lost)", ["outcome"],
                 registry=REGISTRY)
RESOLUTIONS = Counter("larkdesk_resolutions_total", "Escalated sessions resolved by an agent", registry=REGISTRY)
# A histogram over the 1-5 scale: _sum/_count give the average, the buckets the distribution.
CSAT_SCORES = Histogram(
    "larkdesk_csat_score", "Customer satisfaction scores (1-5)", buckets=(1, 2, 3, 4, 5), registry=REGISTRY
)
LLM_TOKENS = Counter("larkdesk_llm_tokens_total", "LLM tokens by model and kind (prompt/completion)",
                     ["model", "kind"], registry=REGISTRY)
SESSIONS_PENDING = Gauge("larkdesk_sessions_pending", "Escalated sessions waiting for an agent", registry=REGISTRY)
TURNS = Counter("larkdesk_turns_total", "Conversation turns by channel and outcome", ["channel", "outcome"],
                registry=REGISTRY)
TRACES_DROPPED = Counter("larkdesk_traces_dropped_total", "Turn traces not stored (Redis unavailable)",
                         registry=REGISTRY)
LANGFUSE_DROPPED = Counter(
    "larkdesk_langfuse_dropped_total", "Langfuse events dropped (queue_full/send_failed/shutdown)", ["reason"],
    registry=REGISTRY,
)

# Reliability: supervision, retries, leases, the shared rate limiter.
SUPERVISED_RESTARTS = Counter(
    "larkdesk_supervised_restarts_total",
    "Restarts of supervised parts (worker processes, worker loops, long connection, scheduler)", ["component"],
    registry=REGISTRY,
)
WORKER_PROCESSES_ALIVE = Gauge("larkdesk_worker_processes_alive", "Worker processes this server runs and sees alive",
                               registry=REGISTRY)
EVENTS_RETRY_SCHEDULED = Counter(
    "larkdesk_events_retry_scheduled_total", "Failed events parked with a due time (their slot freed at once)",
    registry=REGISTRY,
)
SCHEDULED_JOBS = Counter(
    "larkdesk_scheduled_jobs_total", "Scheduled job runs by outcome (ran / skipped: another process holds the lease)",
    ["job", "outcome"], registry=REGISTRY,
)

# Hostile input: events refused at the door, bounded ingest.
EVENTS_INVALID = Counter(
    "larkdesk_events_invalid_total", "Signed events acknowledged and dropped: they do not fit their schema",
    ["event_type"], registry=REGISTRY,
)
INGEST_REFUSED = Counter(
    "larkdesk_ingest_refused_total", "Files refused by an ingest limit (the setting's name)", ["limit"],
    registry=REGISTRY,
)
