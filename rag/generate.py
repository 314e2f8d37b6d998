"""Answers written by an LLM from retrieved passages: cited, checked for groundedness, escalated when doubtful.

The answer layer decides what the user sees; this module only reports what the model said and how far to trust
it (`no_answer`, `grounded`, `cited_ids`). LLM timeouts, 429s and errors raise `LLMUnavailable` so the caller
can fall back to the extractive answer.

Retrieved passages are untrusted text (anyone who can edit a Feishu doc or upload a file writes them). From
prompt version 2 they reach the model inside escaped `<document>` blocks, under a system rule that text inside
them is data, never instructions; the groundedness check sees them (and the answer) the same way. Behind that,
citations naming no passage are dropped and an answer that repeats the system prompt is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import structlog

from config.prompts import Prompt, load_prompt
from observability.masking import mask_text
from rag.llm import Completion, LLMClient, LLMError, LLMRateLimited, LLMTimeout, Message

log = structlog.get_logger("rag.generate")

NO_ANSWER = "NO_ANSWER"
ANSWER_PROMPT = "rag_answer"
CHECK_PROMPT = "groundedness_check"

_NO_ANSWER_RE = re.compile(r"NO_ANSWER", re.IGNORECASE)
# [1], [1][2], [1, 2], 【1】, [1，2] (full-width brackets and commas come from Chinese models).
_CITATION_RE = re.compile(r"[\[【]\s*(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\s*[\]】]")
_FENCE_RE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")


class ContextPassage(Protocol):
    id: str
    text: str
    title: str
    headings: str
    source_id: str
    knowledge_type: str
    score: float


Passage = ContextPassage | Mapping[str, Any]


class LLMUnavailable(Exception):
    """No answer from the LLM now (timeout, rate limit, HTTP or connection error): use the extractive answer."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass
class GeneratedAnswer:
    text: str
    cited_ids: list[str]
    no_answer: bool
    grounded: bool | None  # None: not checked (disabled, no answer, or the check's reply was unreadable)
    model: str
    used_strong_model: bool
    prompt_name: str
    prompt_version: int
    tokens: int  # prompt + completion tokens over every call made for this answer
    unsupported: list[str] = field(default_factory=list)
    low_confidence: list[str] = field(default_factory=list)  # why the first answer was doubted, if it was


@dataclass(frozen=True)
class LowConfidence:
    """When a first answer is doubtful enough to ask the strong model (which should therefore see few questions).

    `no_answer_min_score` is in the retriever's score scale: a NO_ANSWER is suspicious only when retrieval found
    a passage at least this relevant; with weak passages NO_ANSWER is the right reply and a human takes over.
    """

    no_answer_min_score: float = 0.5
    no_citations: bool = True
    ungrounded: bool = True

    def reasons(self, answer: GeneratedAnswer, top_score: float | None) -> list[str]:
        if answer.no_answer:
            if top_score is not None and top_score >= self.no_answer_min_score:
                return ["no_answer_with_relevant_passages"]
            return []
        found = []
        if self.no_citations and not answer.cited_ids:
            found.append("no_citations")
        if self.ungrounded and answer.grounded is False:
            found.append("ungrounded")
        return found


def _get(passage: Passage, name: str, default: Any = "") -> Any:
    if isinstance(passage, Mapping):
        return passage.get(name, default)
    return getattr(passage, name, default)


def _escape(text: str) -> str:
    """A passage cannot close its block or open another: markup characters become entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain_numbers(text: str) -> str:
    """`[3]` / `【3】` inside a passage are not citations: written `(3)` so the model cannot copy one as its own."""
    return _CITATION_RE.sub(lambda m: f"({m.group(1)})", text)


def format_documents(passages: Sequence[Passage], max_chars: int) -> str:
    """Passages as escaped, numbered data blocks (prompt version 2+), masked:
    `<documents><document id="n" source="title › headings">text</document>…</documents>`."""
    blocks = ["<documents>"]
    for n, p in enumerate(passages, start=1):
        title, headings = str(_get(p, "title") or ""), str(_get(p, "headings") or "")
        label = " › ".join(dict.fromkeys(x for x in (title, headings) if x))
        text = str(_get(p, "text") or "").strip()
        if len(text) > max_chars:
            text = text[:max_chars].rstrip() + "…"
        source = _escape(mask_text(label)).replace('"', "&quot;").replace("\n", " ")
        blocks.append(f'<document id="{n}" source="{source}">\n{_plain_numbers(_escape(mask_text(text)))}\n</document>')
    blocks.append("</documents>")
    return "\n".join(blocks)


def leaks_prompt(answer: str, system: str, window: int = 16) -> bool:
    """Whether `answer` repeats a stretch of the system prompt (an injected "reveal your instructions" obeyed)."""
    compact = "".join(answer.split())
    for line in system.splitlines():
        line = "".join(line.split())
        for start in range(0, max(len(line) - window, 0) + 1, window // 2):
            piece = line[start:start + window]
            if len(piece) == window and piece in compact:
                return True
    return False


def format_passages(passages: Sequence[Passage], max_chars: int) -> str:
    """Numbered, masked passages: `[n] title › headings` then the text, cut to `max_chars`."""
    blocks = []
    for n, p in enumerate(passages, start=1):
        title, headings = str(_get(p, "title") or ""), str(_get(p, "headings") or "")
        label = " › ".join(dict.fromkeys(x for x in (title, headings) if x))  # dict: drop a repeated title
        text = str(_get(p, "text") or "").strip()
        if len(text) > max_chars:
            text = text[:max_chars].rstrip() + "…"
        blocks.append(mask_text(f"[{n}] {label}\n{text}".rstrip()))
    return "\n\n".join(blocks)


def parse_citations(text: str, passages: Sequence[Passage]) -> tuple[str, list[str]]:
    """Rewrite citations to `[n]` form, drop numbers that name no passage, and map the rest to chunk ids."""
    cited: list[str] = []

    def sub(m: re.Match[str]) -> str:
        numbers = [int(x) for x in re.split(r"\s*[,，、]\s*", m.group(1).strip())]
        valid = [n for n in numbers if 1 <= n <= len(passages)]
        for n in valid:
            chunk_id = str(_get(passages[n - 1], "id"))
            if chunk_id not in cited:
                cited.append(chunk_id)
        return "".join(f"[{n}]" for n in valid)

    return _CITATION_RE.sub(sub, text), cited


def parse_groundedness(reply: str) -> tuple[bool | None, list[str]]:
    """`{"grounded": ..., "unsupported": [...]}` from a reply that may wrap it in fences or prose."""
    text = _FENCE_RE.sub("", reply.strip())
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None, []
    try:
        data = json.loads(text[start:end + 1])
    except json.JSONDecodeError:
        return None, []
    if not isinstance(data, dict):
        return None, []
    grounded = data.get("grounded")
    if isinstance(grounded, str):
        grounded = {"true": True, "false": False}.get(grounded.strip().lower())
    if not isinstance(grounded, bool):
        return None, []
    unsupported = data.get("unsupported") or []
    if not isinstance(unsupported, list):
        unsupported = [unsupported]
    return grounded, [str(x) for x in unsupported]


def _top_score(passages: Sequence[Passage]) -> float | None:
    scores = [s for p in passages if isinstance(s := _get(p, "score", None), int | float)]
    return max(scores) if scores else None


def _unavailable(exc: LLMError) -> LLMUnavailable:
    if isinstance(exc, LLMTimeout):
        return LLMUnavailable("timeout")
    if isinstance(exc, LLMRateLimited):
        return LLMUnavailable("rate_limited", retry_after=exc.retry_after)
    return LLMUnavailable("error")


class AnswerGenerator:
    def __init__(
        self,
        llm: LLMClient,
        *,
        strong_llm: LLMClient | None = None,
        language: str = "zh-CN",
        check_groundedness: bool = True,
        low_confidence: LowConfidence = LowConfidence(),
        prompt_version: int | None = None,
        max_passage_chars: int = 1500,
        max_history_messages: int = 6,
        answer_max_tokens: int = 600,
        temperature: float = 0.1,
    ) -> None:
        self.llm = llm
        self.strong_llm = strong_llm
        self.language = language
        self.check_groundedness = check_groundedness
        self.low_confidence = low_confidence
        self.max_passage_chars = max_passage_chars
        self.max_history_messages = max_history_messages
        self.answer_max_tokens = answer_max_tokens
        self.temperature = temperature
        # Loaded now so a missing or malformed prompt fails at start-up, not on the first customer.
        self.prompt: Prompt = load_prompt(ANSWER_PROMPT, prompt_version, language)
        self.check_prompt: Prompt = load_prompt(CHECK_PROMPT, None, language)

    # -- public -------------------------------------------------------------------------------------------

    async def generate(
        self, question: str, passages: Sequence[Passage], *, history: Sequence[Message] | None = None
    ) -> GeneratedAnswer:
        if not passages:
            return self._empty()
        messages = self._messages(question, passages, history)
        # With a strong model standing by, a first answer that is already doubtful needs no check of its own.
        completion = await self._complete(self.llm, messages)
        first = await self._finish(completion, question, passages, skip_check_if_doubtful=self.strong_llm is not None)
        return await self._second_opinion(first, question, passages, messages)

    async def stream(
        self, question: str, passages: Sequence[Passage], *, history: Sequence[Message] | None = None
    ) -> AsyncIterator[str | GeneratedAnswer]:
        """Text deltas, then one `GeneratedAnswer`, always last.

        A reply that starts with NO_ANSWER yields no deltas. The final answer's text is the one to keep: it has
        citations normalised, and it is the strong model's text when the streamed one was doubted
        (`used_strong_model`), or the answer may turn out `no_answer` / ungrounded after the deltas were shown.
        """
        if not passages:
            yield self._empty()
            return
        messages = self._messages(question, passages, history)
        llm_stream = self.llm.stream(
            messages, temperature=self.temperature, max_tokens=self.answer_max_tokens,
            prompt_name=self.prompt.name, prompt_version=self.prompt.version,
        )
        held = ""
        released = False
        try:
            async for delta in llm_stream:
                if released:
                    yield delta
                    continue
                held += delta
                head = held.lstrip().upper()
                # Hold deltas back until they cannot be the start of the NO_ANSWER marker.
                if NO_ANSWER.startswith(head) or head.startswith(NO_ANSWER):
                    continue
                released = True
                yield held
            if not released and held and not _NO_ANSWER_RE.search(held):
                yield held  # a reply shorter than the marker, e.g. "No"
        except LLMError as exc:
            raise _unavailable(exc) from exc
        finally:
            await llm_stream.aclose()
        completion = llm_stream.completion
        assert completion is not None  # set once the stream is exhausted
        first = await self._finish(completion, question, passages, skip_check_if_doubtful=self.strong_llm is not None)
        yield await self._second_opinion(first, question, passages, messages)

    # -- steps --------------------------------------------------------------------------------------------

    def _empty(self) -> GeneratedAnswer:
        """No passages: nothing to ground an answer in, so no LLM call at all."""
        return GeneratedAnswer(
            text="", cited_ids=[], no_answer=True, grounded=None, model="", used_strong_model=False,
            prompt_name=self.prompt.name, prompt_version=self.prompt.version, tokens=0,
        )

    def _context(self, prompt: Prompt, passages: Sequence[Passage]) -> str:
        if prompt.version >= 2:
            return format_documents(passages, self.max_passage_chars)
        return format_passages(passages, self.max_passage_chars)

    def _messages(
        self, question: str, passages: Sequence[Passage], history: Sequence[Message] | None
    ) -> list[Message]:
        system, user = self.prompt.render(
            context=self._context(self.prompt, passages), question=mask_text(question.strip())
        )
        turns = [
            {"role": m["role"], "content": mask_text(m.get("content") or "")}
            for m in (history or [])
            if m.get("role") in ("user", "assistant") and m.get("content")
        ]
        keep = turns[-self.max_history_messages:] if self.max_history_messages > 0 else []
        return [system, *keep, user]

    async def _complete(self, llm: LLMClient, messages: list[Message], max_tokens: int | None = None,
                        prompt: Prompt | None = None) -> Completion:
        prompt = prompt or self.prompt  # named in Langfuse with its version
        try:
            return await llm.complete(
                messages, temperature=self.temperature, max_tokens=max_tokens or self.answer_max_tokens,
                prompt_name=prompt.name, prompt_version=prompt.version,
            )
        except LLMError as exc:
            raise _unavailable(exc) from exc

    async def _finish(
        self, completion: Completion, question: str, passages: Sequence[Passage], *, skip_check_if_doubtful: bool
    ) -> GeneratedAnswer:
        raw = completion.text.strip()
        no_answer = not raw or bool(_NO_ANSWER_RE.search(raw))
        if not no_answer and leaks_prompt(raw, self.prompt.system):
            log.warning("generate.prompt_leak_refused", model=completion.model)
            no_answer = True
        text, cited = ("", []) if no_answer else parse_citations(raw, passages)
        answer = GeneratedAnswer(
            text=text.strip(), cited_ids=cited, no_answer=no_answer, grounded=None, model=completion.model,
            used_strong_model=False, prompt_name=self.prompt.name, prompt_version=self.prompt.version,
            tokens=completion.tokens,
        )
        if no_answer or not self.check_groundedness:
            return answer
        if skip_check_if_doubtful and self.low_confidence.reasons(answer, _top_score(passages)):
            return answer
        answer.grounded, answer.unsupported, check_tokens = await self._check(question, passages, answer.text)
        answer.tokens += check_tokens
        return answer

    async def _check(
        self, question: str, passages: Sequence[Passage], answer: str
    ) -> tuple[bool | None, list[str], int]:
        """Ask the (cheap) model whether every claim is supported; an unreadable verdict is None, not False."""
        shown = mask_text(answer)
        messages = self.check_prompt.render(
            context=self._context(self.check_prompt, passages),
            question=mask_text(question.strip()),
            answer=_escape(shown) if self.check_prompt.version >= 2 else shown,
        )
        completion = await self._complete(self.llm, messages, max_tokens=300, prompt=self.check_prompt)
        grounded, unsupported = parse_groundedness(completion.text)
        if grounded is None:
            log.warning("generate.check_unreadable", model=completion.model, reply=mask_text(completion.text[:200]))
        return grounded, unsupported, completion.tokens

    async def _second_opinion(
        self, first: GeneratedAnswer, question: str, passages: Sequence[Passage], messages: list[Message]
    ) -> GeneratedAnswer:
        reasons = self.low_confidence.reasons(first, _top_score(passages))
        first.low_confidence = reasons
        if not reasons or self.strong_llm is None:
            self._log(first)
            return first
        try:
            completion = await self._complete(self.strong_llm, messages)
            second = await self._finish(completion, question, passages, skip_check_if_doubtful=False)
        except LLMUnavailable as exc:
            # The first answer exists and carries its doubts; the caller escalates on them.
            log.warning("generate.strong_unavailable", reason=exc.reason, model=self.strong_llm.model)
            if first.grounded is None and not first.no_answer and self.check_groundedness:
                # Its check was skipped in the hope of a better answer; the caller still needs the verdict.
                first.grounded, first.unsupported, check_tokens = await self._check(question, passages, first.text)
                first.tokens += check_tokens
            self._log(first)
            return first
        answer = replace(second, used_strong_model=True, tokens=first.tokens + second.tokens, low_confidence=reasons)
        self._log(answer)
        return answer

    def _log(self, answer: GeneratedAnswer) -> None:
        log.info(
            "generate.answer", model=answer.model, strong=answer.used_strong_model, no_answer=answer.no_answer,
            grounded=answer.grounded, cited=len(answer.cited_ids), tokens=answer.tokens,
            low_confidence=answer.low_confidence, prompt=f"{answer.prompt_name}.v{answer.prompt_version}",
        )
