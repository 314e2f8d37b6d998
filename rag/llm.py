"""Chat completions over any OpenAI-compatible API (OpenAI, DeepSeek, Qwen, vLLM, Ollama), with typed errors.

Every message is masked (phones, ID cards, bank cards) before it leaves the process, so neither the provider
nor our logs see personal numbers. No retries here: the caller has an extractive fallback, and a user waiting
on a chat reply is better served by that than by a second slow attempt.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import openai
import structlog

from observability.masking import mask_text

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
    if isinstance(exc, TimeoutError | openai.APITimeoutError):
        return LLMTimeout(f"{model} did not answer within {timeout_s:g}s")
    if isinstance(exc, openai.RateLimitError):
        return LLMRateLimited(f"{model} rate-limited: {exc.message}", retry_after=_retry_after(exc))
    if isinstance(exc, openai.APIStatusError):
        return LLMError(f"{model} HTTP {exc.status_code}: {exc.message}", status=exc.status_code)
    return LLMError(f"{model} call failed: {type(exc).__name__}: {exc}")


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
    ) -> Completion:
        model = model or self.model
        timeout_s = timeout_s or self.timeout_s
        masked = mask_messages(messages)
        log.debug("llm.request", model=model, messages=len(masked), last=_preview(masked))
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                response = await self._client.chat.completions.create(
                    model=model,
                    messages=masked,  # type: ignore[arg-type]
                    temperature=temperature,
                    max_tokens=max_tokens or self.max_tokens,
                    stream=False,
                )
        except (TimeoutError, openai.OpenAIError) as exc:
            error = _translate(exc, model, timeout_s)
            log.warning("llm.failed", model=model, error=type(error).__name__, detail=str(error))
            raise error from exc
        choice = response.choices[0] if response.choices else None
        usage = response.usage
        completion = Completion(
            text=(choice.message.content or "") if choice else "",
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            model=response.model or model,
            finish_reason=choice.finish_reason if choice else None,
        )
        log.info(
            "llm.complete", model=completion.model, prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens, finish_reason=completion.finish_reason,
            latency_ms=round((time.perf_counter() - started) * 1000),
        )
        return completion

    def stream(
        self,
        messages: Sequence[Message],
        *,
        model: str | None = None,
        temperature: float = 0.1,
        max_tokens: int | None = None,
        timeout_s: float | None = None,
    ) -> LLMStream:
        """Text deltas as they arrive; `timeout_s` bounds the wait for the first and for each next delta."""
        model = model or self.model
        request = {
            "model": model,
            "messages": mask_messages(messages),
            "temperature": temperature,
            "max_tokens": max_tokens or self.max_tokens,
        }
        return LLMStream(self._client, request, timeout_s or self.timeout_s)


class LLMStream(AsyncIterator[str]):
    """Async iterator of text deltas; `completion` holds the whole text and usage once it is exhausted."""

    def __init__(self, client: openai.AsyncOpenAI, request: dict[str, Any], timeout_s: float) -> None:
        self.completion: Completion | None = None
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
        parts: list[str] = []
        usage = None
        served_by = model
        finish_reason = None
        sdk_stream = None
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
                served_by = chunk.model or served_by
                usage = chunk.usage or usage
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                finish_reason = choice.finish_reason or finish_reason
                delta = choice.delta.content if choice.delta else None
                if delta:
                    parts.append(delta)
                    yield delta
        except (TimeoutError, openai.OpenAIError) as exc:
            error = _translate(exc, model, self._timeout_s)
            log.warning("llm.failed", model=model, stream=True, error=type(error).__name__, detail=str(error))
            raise error from exc
        finally:
            if sdk_stream is not None:
                await sdk_stream.close()
        self.completion = Completion(
            text="".join(parts),
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            model=served_by,
            finish_reason=finish_reason,
        )
        log.info(
            "llm.complete", model=served_by, stream=True, prompt_tokens=self.completion.prompt_tokens,
            completion_tokens=self.completion.completion_tokens, finish_reason=finish_reason,
            latency_ms=round((time.perf_counter() - started) * 1000),
        )
