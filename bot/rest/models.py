"""Request and response bodies of the REST API. The handlers validate with these models and /openapi.json is
generated from them, so the document cannot drift from the code."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

# At least one non-space character (JSON Schema `pattern` is a search, like pydantic's).
NonBlank = Annotated[str, StringConstraints(min_length=1, pattern=r"\S")]
Text4k = Annotated[str, StringConstraints(min_length=1, max_length=4000, pattern=r"\S")]
Query1k = Annotated[str, StringConstraints(min_length=1, max_length=1000, pattern=r"\S")]
Ident = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"\S")]

CHANNELS = ("web", "app", "api")  # customer channels without push: they read the desk's replies in the history


class Body(BaseModel):
    """Request bodies: strict types, unknown fields refused (a typo must not be silently ignored)."""

    model_config = ConfigDict(strict=True, extra="forbid")


class Out(BaseModel):
    """Response bodies: the documented fields, and whatever the desk adds later."""

    model_config = ConfigDict(extra="allow")


# -- errors ----------------------------------------------------------------------------------------------

class ErrorDetail(Out):
    code: str = Field(examples=["validation_error"])
    message: str
    details: dict[str, Any] | None = None


class ErrorResponse(Out):
    status: Literal["error"]
    error: ErrorDetail


# -- chat ------------------------------------------------------------------------------------------------

class ChatRequest(Body):
    message: Text4k | None = Field(None, description="What the customer wrote (or give `choice` or `helpful`).",
                                   examples=["怎么申请退货？"])
    choice: Ident | None = Field(None, description="The customer picked this did-you-mean option (a `key` of "
                                                   "data.options): answered with that entry, and the wording they "
                                                   "asked with is learned for it. Needs session_id.")
    helpful: bool | None = Field(None, description="Feedback on the last direct answer (data.answer_entry): true "
                                                   "= it answered me, false = not helpful (teaches, and offers "
                                                   "other entries or a human). Needs session_id.")
    session_id: Ident | None = Field(None, description="Continue this session; omit to start a new one.")
    channel: Literal[CHANNELS] = Field("web", description="The customer's channel.")  # type: ignore[valid-type]
    user_id: Ident | None = Field(None, description="The customer's id in your system (new sessions only); "
                                                    "generated when omitted.")

    @model_validator(mode="after")
    def _one_kind(self) -> ChatRequest:
        given = [name for name in ("message", "choice", "helpful") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of message, choice or helpful")
        if given[0] != "message" and not self.session_id:
            raise ValueError(f"{given[0]} needs the session_id of the conversation it belongs to")
        return self


class EscalationCard(Out):
    session_id: str
    escalate_reason: str
    priority: str
    summary: str


class ChatData(Out):
    intent: str
    escalate_to_human: bool
    failed_attempts: int
    state: str | None = None
    decision: str | None = None
    trace_id: str | None = None
    escalation_card: EscalationCard | None = None
    sources: list[dict[str, Any]] | None = None
    suggestions: list[str] | None = None
    options: list[dict[str, Any]] | None = Field(None, description="The entries behind `suggestions`: "
                                                                   "{key, label}; send a key back as `choice`.")
    answer_entry: dict[str, Any] | None = Field(None, description="{key, label} of the entry a direct answer "
                                                                  "came from; send `helpful` about it.")


class ChatResponse(Out):
    session_id: str
    reply: str = Field(description="Empty while the session is with a human: the message went to the agents.")
    status: Literal["ok"]
    data: ChatData


class StreamMeta(Out):
    session_id: str
    intent: str | None = None


class StreamToken(Out):
    content: str


# -- sessions and agents ---------------------------------------------------------------------------------

class HistoryEntry(Out):
    role: str
    content: str
    ts: float | None = None


class CustomerMessages(Out):
    session_id: str
    state: str = Field(description="bot, pending, claimed or resolved.")
    agent_name: str = Field("", description="Who is serving the customer while claimed.")
    messages: list[HistoryEntry] = Field(description="What the bot and the agents said after `after_ms`, oldest "
                                                     "first (roles assistant and agent).")
    next_after_ms: int = Field(description="Pass as `after_ms` next time to get only newer messages.")


class SessionView(Out):
    session_id: str
    channel: str
    customer_id: str
    state: str
    priority: str
    intent: str = ""
    failed_attempts: int = 0
    agent_id: str = ""
    agent_name: str = ""
    escalate_reason: str = ""
    summary: str = ""
    created_at: float = 0.0
    escalated_at: float = 0.0
    waiting_s: float = 0.0
    history: list[HistoryEntry] | None = None


class PendingSession(Out):
    session_id: str
    priority: str
    summary: str
    waiting_s: float
    waiting: str = Field(description="waiting_s for people, e.g. 3m 05s")
    escalate_reason: str
    channel: str
    customer_id: str
    customer_name: str = ""
    intent: str = ""
    created_at: float
    escalated_at: float


class AcceptRequest(Body):
    agent_id: Ident
    agent_name: Annotated[str, StringConstraints(max_length=128)] | None = None


class AgentMessageRequest(Body):
    content: Text4k
    agent_id: Ident | None = None


class MessageDelivery(Out):
    session_id: str
    channel: str
    pushed: bool = Field(description="True when the channel pushed it (Feishu); web customers read the history.")


class RecommendRequest(Body):
    query: Query1k
    top_k: int = Field(3, ge=1, le=20)


class RecommendedChunk(Out):
    content: str
    score: float
    source: str
    option: dict[str, Any] | None = Field(None, description="The knowledge entry (key, source_id, block_id, "
                                                            "chunk_id, label, knowledge_type): send it as `entry` to "
                                                            "/teach when it answers the customer.")


class RecommendResponse(Out):
    chunks: list[RecommendedChunk]
    total: int


class BusinessAssistRequest(Body):
    query: Query1k


class BusinessResult(Out):
    scene: str
    reply: str


class BusinessAssistResponse(Out):
    result: BusinessResult


class SolutionRequest(Body):
    question: Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=r"\S")]
    solution: Text4k
    intent: Annotated[str, StringConstraints(max_length=64)] | None = None
    agent_id: Ident | None = None


class SolutionView(Out):
    review_id: str
    session_id: str
    question: str
    solution: str
    intent: str
    submitted_by: str
    status: str
    created_at: float


class ResolveRequest(Body):
    note: Annotated[str, StringConstraints(max_length=1000)] = ""
    agent_id: Ident | None = None


# -- privacy ---------------------------------------------------------------------------------------------


class ForgetResult(Out):
    customer_id: str
    sessions: int = Field(description="sessions erased (with their history)")
    erased: dict[str, int] = Field(description="items erased per store: sessions, traces, and any plugged in "
                                               "(e.g. learned phrasings)")


# -- knowledge -------------------------------------------------------------------------------------------

KnowledgeType = Literal["doc", "faq", "policy", "solution"]


class IngestForm(BaseModel):
    """The multipart form of an upload (the file itself is the `file` part)."""

    model_config = ConfigDict(extra="forbid")

    file: bytes = Field(json_schema_extra={"format": "binary"}, description="The document; its name's extension "
                        "picks the parser (.md .txt .html .pdf .docx .doc .jsonl .csv .xlsx).")
    knowledge_type: KnowledgeType | None = Field(None, description="Default: faq for FAQ tables, doc otherwise.")
    register_version: bool = Field(True, alias="register", description="Record a version (rollback target).")
    validate_quality: bool = Field(True, description="Refuse empty, near-empty or garbled text.")


class IngestResultView(Out):
    source_id: str
    title: str
    knowledge_type: str
    chunk_count: int
    version: int | None
    added: int
    removed: int
    unchanged: int
    seconds: float
    warnings: list[str] = []


class IngestJobView(Out):
    """A large upload written in the background (202): poll it until `status` is done or failed."""

    job_id: str
    status: Literal["queued", "running", "done", "failed"]
    source_id: str
    filename: str
    phase: str = Field(description="queued, embed, write or done")
    done: int = Field(description="rows embedded so far")
    total: int = Field(description="rows to embed (only the new ones)")
    created_at: float
    updated_at: float
    result: IngestResultView | None = Field(None, description="once done: what the synchronous upload returns")
    error: ErrorDetail | None = Field(None, description="once failed: why")


class DocumentSummary(Out):
    source_id: str
    current_version: int
    versions: int
    title: str
    knowledge_type: str
    origin: str


class DocumentsResponse(Out):
    documents: list[DocumentSummary]
    total: int


class SourceVersionView(Out):
    source_id: str
    version: int
    created_at: float
    chunk_count: int
    title: str
    knowledge_type: str
    origin: str = ""
    note: str = ""


class VersionsResponse(Out):
    source_id: str
    current_version: int
    versions: list[SourceVersionView]


class RollbackRequest(Body):
    version: int = Field(ge=1, le=1_000_000)


class CacheCleared(Out):
    cleared: int


# -- monitor ---------------------------------------------------------------------------------------------

class TraceStep(Out):
    step: str
    duration_ms: float
    status: str


class TraceView(Out):
    trace_id: str
    session_id: str
    status: str
    start_time: str
    duration_ms: float | None
    steps: list[TraceStep]


class TracesResponse(Out):
    traces: list[TraceView]
    total: int
