"""Chat completions over any OpenAI-compatible API (OpenAI, DeepSeek, Qwen, vLLM, Ollama), with typed errors.

Every message is masked (phones, ID cards, bank cards, e-mail addresses) before it leaves the process, so neither
the provider nor our logs see personal data. Whatever comes back is read defensively: a body that is not JSON, a
JSON of the wrong shape, or an empty answer raises `LLMError` like an HTTP error does, so callers fall back to
the extractive answer instead of failing the turn. Every call (streamed or not) is reported as one generation to
the current Langfuse tracer (a no-op unless configured) and counted in LLM_TOKENS. No retries here: the caller has an
extractive fallback, and a user waiting on a chat reply is better served by that than by a second slow attempt.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import openai
import structlog

from observability.langfuse import current_context, get_tracer
from observability.masking import mask_text
from observability.metrics import LLM_TOKENS

log = structlog.get_logger("rag.llm")

Message = dict[str, str]

_LOG_PREVIEW_CHARS = 400


class LLMError(Exception):
    """The LLM call failed (HTTP error, connection refused, malformed response)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LLMTimeout(LLMError):
    pass


class LLMRateLimited(LLMError):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, status=429)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    model: str
    finish_reason: str | None = None

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def mask_messages(messages: Sequence[Message]) -> list[Message]:
    return [{**m, "content": mask_text(m.get("content") or "")} for m in messages]


def _preview(messages: Sequence[Message]) -> str:
    """The last message, masked and cut short: enough to debug a prompt, not a transcript."""
    if not messages:
        return ""
    return mask_text(messages[-1].get("content") or "")[-_LOG_PREVIEW_CHARS:]


def _retry_after(exc: openai.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _translate(exc: BaseException, model: str, timeout_s: float) -> LLMError:
    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, TimeoutError | openai.APITimeoutError):
        return LLMTimeout(f"{model} did not answer within {timeout_s:g}s")
    if isinstance(exc, openai.RateLimitError):
        return LLMRateLimited(f"{model} rate-limited: {exc.message}", retry_after=_retry_after(exc))
    if isinstance(exc, openai.APIStatusError):
        return LLMError(f"{model} HTTP {exc.status_code}: {exc.message}", status=exc.status_code)
    if isinstance(exc, openai.OpenAIError):
        return LLMError(f"{model} call failed: {type(exc).__name__}: {exc}")
    # A 200 whose body is not an OpenAI answer (HTML from a proxy, truncated or nested-to-death JSON): the SDK
    # hands back a str, or raises JSONDecodeError / RecursionError / AttributeError on it.
    return LLMError(f"{model} returned an unreadable answer ({type(exc).__name__})")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _text_or_none(value: Any, model: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise LLMError(f"{model} answered content of type {type(value).__name__}, not text")


def read_completion(response: Any, model: str) -> Completion:
    """A `Completion` from whatever the SDK returned; LLMError unless it has a choice with text in it."""
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise LLMError(f"{model} answered without choices")
    choice = choices[0]
    text = _text_or_none(getattr(getattr(choice, "message", None), "content", None), model)
    if not text or not text.strip():
        raise LLMError(f"{model} answered an empty message")
    usage = getattr(response, "usage", None)
    served_by = getattr(response, "model", None)
    finish = getattr(choice, "finish_reason", None)
    return Completion(text=text, prompt_tokens=_int(getattr(usage, "prompt_tokens", 0)),
                      completion_tokens=_int(getattr(usage, "completion_tokens", 0)),
                      model=served_by if isinstance(served_by, str) and served_by else model,
                      finish_reason=finish if isinstance(finish, str) else None)


@dataclass(frozen=True)
class _Attribution:
    """Who a call belongs to, captured when it starts: explicit arguments win over the Langfuse context."""

    session_id: str
    trace_id: str
    prompt_name: str
    prompt_version: int | str | None

    @classmethod
    def capture(cls, prompt_name: str, prompt_version: int | str | None) -> _Attribution:
        ctx = current_context()
        return cls(
            session_id=ctx.session_id,
            trace_id=ctx.trace_id,
            prompt_name=prompt_name or ctx.prompt_name,
            prompt_version=prompt_version if prompt_version is not None else ctx.prompt_version,
        )


def _report(
    who: _Attribution, *, name: str, model: str, messages: Sequence[Message], output: str, start: float,
    prompt_tokens: int, completion_tokens: int, status: str,
) -> None:
    """Count tokens and hand one generation to the tracer; never raises into the LLM call."""
    try:
        if prompt_tokens:
            LLM_TOKENS.labels(model, "prompt").inc(prompt_tokens)
        if completion_tokens:
            LLM_TOKENS.labels(model, "completion").inc(completion_tokens)
        tracer = get_tracer()
        if tracer.enabled:
            tracer.generation(
                name=who.prompt_name or name, model=model, input=list(messages), output=output, start=start,
                end=time.time(), prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                session_id=who.session_id, trace_id=who.trace_id, prompt_name=who.prompt_name,
                prompt_version=who.prompt_version, status=status,
            )
    except Exception as exc:  # tracing is best-effort
        log.warning("llm.report_failed", error=f"{type(exc).__name__}: {exc}")


def _str_or(value: Any, default: Any) -> Any:
    return value if isinstance(value, str) and value else default


class LLMClient:
    """One model behind one OpenAI-compatible endpoint."""

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str,
        model: str,
        timeout_s: float = 30.0,
        max_tokens: int = 800,
    ) -> None:
        if not model:
            raise ValueError("LLMClient needs a model name")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.model = model
        self.base_url = base_url or None
        self.timeout_s = timeout_s
        self.max_tokens = max_tokens
        # Local servers (Ollama, vLLM) accept any key, but the SDK refuses an empty one.
        # The SDK's own timeout is a backstop: asyncio.timeout below is the deadline that counts.
        self._client = openai.AsyncOpenAI(
            base_url=self.base_url, api_key=api_key or "unused", timeout=timeout_s + 5, max_retries=0
        )

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> LLMClient | None:
        """A client when LLM_MODEL (and a base URL or key) is set, else None: answers stay extractive."""
        if not settings.llm_model or not (settings.llm_base_url or settings.llm_api_key):
            return None
        return cls(base_url=settings.llm_base_url, api_key=settings.llm_api_key, model=settings.llm_model, **kwargs)

    async def aclose(self) -> None:
        await self._client.close()

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        model: str | None = None,
        temperature: float = 0.1,
        max_tokens: int | None = None,
        timeout_s: float | None = None,
        prompt_name: str = "",
        prompt_version: int | str | None = None,
    ) -> Completion:
        model = model or self.model
        timeout_s = timeout_s or self.timeout_s
        masked = mask_messages(messages)
        who = _Attribution.capture(prompt_name, prompt_version)
        log.debug("llm.request", model=model, messages=len(masked), last=_preview(masked))
        started = time.perf_counter()
        wall_start = time.time()
        try:
            async with asyncio.timeout(timeout_s):
                response = await self._client.chat.completions.create(
                    model=model,
                    messages=masked,  # type: ignore[arg-type]
                    temperature=temperature,
                    max_tokens=max_tokens or self.max_tokens,
                    stream=False,
                )
            completion = read_completion(response, model)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # HTTP, network, timeout, or an answer that is not one: all an LLMError
            error = _translate(exc, model, timeout_s)
            log.warning("llm.failed", model=model, error=type(error).__name__, detail=str(error))
            _report(who, name="llm.complete", model=model, messages=masked, output="", start=wall_start,
                    prompt_tokens=0, completion_tokens=0, status=f"error: {error}")
            raise error from exc
        log.info(
            "llm.complete", model=completion.model, prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens, finish_reason=completion.finish_reason,
            latency_ms=round((time.perf_counter() - started) * 1000),
        )
        _report(who, name="llm.complete", model=completion.model, messages=masked, output=completion.text,
                start=wall_start, prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens, status="ok")
        return completion

    def stream(
        self,
        messages: Sequence[Message],
        *,
        model: str | None = None,
        temperature: float = 0.1,
        max_tokens: int | None = None,
        timeout_s: float | None = None,
        prompt_name: str = "",
        prompt_version: int | str | None = None,
    ) -> LLMStream:
        """Text deltas as they arrive; `timeout_s` bounds the wait for the first and for each next delta."""
        model = model or self.model
        request = {
            "model": model,
            "messages": mask_messages(messages),
            "temperature": temperature,
            "max_tokens": max_tokens or self.max_tokens,
        }
        return LLMStream(
            self._client, request, timeout_s or self.timeout_s,
            attribution=_Attribution.capture(prompt_name, prompt_version),
        )


class LLMStream(AsyncIterator[str]):
    """Async iterator of text deltas; `completion` holds the whole text and usage once it is exhausted."""

    def __init__(
        self, client: openai.AsyncOpenAI, request: dict[str, Any], timeout_s: float, *,
        attribution: _Attribution | None = None,
    ) -> None:
        self.completion: Completion | None = None
        self._who = attribution or _Attribution.capture("", None)
        self._client = client
        self._request = request
        self._timeout_s = timeout_s
        self._gen = self._run()

    def __aiter__(self) -> LLMStream:
        return self

    async def __anext__(self) -> str:
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        await self._gen.aclose()

    async def _run(self) -> AsyncGenerator[str, None]:
        model = self._request["model"]
        log.debug("llm.request", model=model, stream=True, last=_preview(self._request["messages"]))
        started = time.perf_counter()
        wall_start = time.time()
        parts: list[str] = []
        usage = None
        served_by = model
        finish_reason = None
        sdk_stream = None
        status = "cancelled"  # stays so when the consumer stops early (aclose, cancellation)
        try:
            async with asyncio.timeout(self._timeout_s):
                sdk_stream = await self._client.chat.completions.create(
                    **self._request, stream=True, stream_options={"include_usage": True}
                )
            chunks = sdk_stream.__aiter__()
            while True:
                try:
                    async with asyncio.timeout(self._timeout_s):
                        chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    break
                served_by = _str_or(getattr(chunk, "model", None), served_by)
                usage = getattr(chunk, "usage", None) or usage
                choices = getattr(chunk, "choices", None)
                if not isinstance(choices, list) or not choices:
                    continue
                choice = choices[0]
                finish_reason = _str_or(getattr(choice, "finish_reason", None), finish_reason)
                delta = _text_or_none(getattr(getattr(choice, "delta", None), "content", None), model)
                if delta:
                    parts.append(delta)
                    yield delta
            if not "".join(parts).strip():
                raise LLMError(f"{model} streamed no text")
            status = "ok"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # HTTP, network, timeout, or chunks that are not an answer
            error = _translate(exc, model, self._timeout_s)
            status = f"error: {error}"
            log.warning("llm.failed", model=model, stream=True, error=type(error).__name__, detail=str(error))
            raise error from exc
        finally:
            if sdk_stream is not None:
                await sdk_stream.close()
            _report(self._who, name="llm.stream", model=served_by, messages=self._request["messages"],
                    output="".join(parts), start=wall_start, prompt_tokens=_int(getattr(usage, "prompt_tokens", 0)),
                    completion_tokens=_int(getattr(usage, "completion_tokens", 0)), status=status)
        self.completion = Completion(
            text="".join(parts),
            prompt_tokens=_int(getattr(usage, "prompt_tokens", 0)),
            completion_tokens=_int(getattr(usage, "completion_tokens", 0)),
            model=served_by,
            finish_reason=finish_reason,
        )
        log.info(
            "llm.complete", model=served_by, stream=True, prompt_tokens=self.completion.prompt_tokens,
            completion_tokens=self.completion.completion_tokens, finish_reason=finish_reason,
            latency_ms=round((time.perf_counter() - started) * 1000),
        )
