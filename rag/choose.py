"""Listwise choice with an LLM: which of the top candidates answers the question, or none.

Used when the calibrated policy is unsure (a did-you-mean): the model sees the question and the candidates at
once, so it can tell apart near-identical FAQ entries that differ in one key term, and say "none fits" for a
question the knowledge does not cover. A reply that is not a valid choice leaves the buttons as they were.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Literal

import structlog

from config.prompts import load_prompt
from rag.retrieval import Candidate

log = structlog.get_logger("rag.choose")

_NUMBER = re.compile(r"-?\d+")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_entries(candidates: Sequence[Candidate], max_chars: int = 400) -> str:
    blocks = []
    for i, cand in enumerate(candidates, 1):
        hit = cand.hit
        body = f"问：{hit.question}\n答：{hit.answer}" if cand.is_faq else \
            "\n".join(x for x in (hit.title, hit.heading_path, hit.text) if x)
        blocks.append(f'<entry id="{i}">\n{_escape(body[:max_chars])}\n</entry>')
    return "\n".join(blocks)


def parse_choice(text: str, count: int) -> int | None:
    """The chosen number (0 = none) from `{"choice": n}` or a bare number; None when unreadable."""
    raw = text.strip().strip("`").removeprefix("json").strip()
    try:
        value = json.loads(raw)
        number = value.get("choice") if isinstance(value, dict) else value
    except ValueError:
        match = _NUMBER.search(raw)
        number = int(match.group()) if match else None
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= count:
        return None
    return number


class ListwiseChooser:
    def __init__(self, llm, *, max_candidates: int = 4) -> None:  # type: ignore[no-untyped-def]
        self.llm = llm
        self.max_candidates = max_candidates
        self.prompt = load_prompt("choose_candidate")

    async def choose(self, question: str, candidates: Sequence[Candidate]) -> Candidate | Literal["none"] | None:
        shown = list(candidates[: self.max_candidates])
        if not shown:
            return None
        completion = await self.llm.complete(
            self.prompt.render(question=question, entries=render_entries(shown)), temperature=0.0, max_tokens=20,
            prompt_name=self.prompt.name, prompt_version=self.prompt.version)
        number = parse_choice(completion.text, len(shown))
        log.info("choose.result", choice=number, candidates=len(shown))
        if number is None:
            return None
        return "none" if number == 0 else shown[number - 1]
