"""Typewriter replies through a CardKit card: created on the first token, updated at most 10 times a second
with the full text so far (Feishu types only the new part), streaming closed at the end.

Any CardKit failure turns streaming off for the rest of the answer; `finish` then returns False and the
caller sends the final text as a plain message, so the customer always gets the whole answer.
"""

from __future__ import annotations

import asyncio
import time

import structlog

from feishu import FeishuClient

log = structlog.get_logger("bot.streaming")

ELEMENT_ID = "answer"


def streaming_card(text: str) -> dict:
    return {"schema": "2.0",
            "config": {"streaming_mode": True, "update_multi": True, "summary": {"content": "…"},
                       "streaming_config": {"print_frequency_ms": {"default": 30}, "print_step": {"default": 2}}},
            "body": {"elements": [{"tag": "markdown", "element_id": ELEMENT_ID, "content": text}]}}


class CardStreamer:
    def __init__(self, feishu: FeishuClient, reply_to: str, chat_id: str, *, min_interval_s: float = 0.1) -> None:
        self.feishu = feishu
        self.reply_to = reply_to
        self.chat_id = chat_id
        self.min_interval_s = min_interval_s  # Feishu allows 10 operations per second per card
        self.text = ""
        self.card_id = ""
        self.sequence = 0
        self.failed = False
        self._shown = ""
        self._last_update = 0.0

    @property
    def started(self) -> bool:
        return bool(self.card_id) or self.failed

    async def push(self, delta: str) -> None:
        self.text += delta
        if self.failed:
            return
        try:
            if not self.card_id:
                self.card_id = await self.feishu.create_card(streaming_card(self.text))
                content = {"type": "card", "data": {"card_id": self.card_id}}
                await self.feishu.reply(self.reply_to, "interactive", content,
                                        uuid=f"stream-{self.reply_to}"[:50], chat_id=self.chat_id)
                self._shown, self._last_update = self.text, time.monotonic()
            elif time.monotonic() - self._last_update >= self.min_interval_s:
                await self._show(self.text)
        except Exception as exc:
            self.failed = True
            log.warning("streaming.cardkit_failed", error=str(exc))

    async def _pace(self) -> None:
        """The final update and the close wait out the interval too: every CardKit call counts."""
        wait = self.min_interval_s - (time.monotonic() - self._last_update)
        if wait > 0:
            await asyncio.sleep(wait)

    async def _show(self, text: str) -> None:
        if text == self._shown:
            return
        await self._pace()
        self.sequence += 1
        await self.feishu.stream_element_content(self.card_id, ELEMENT_ID, text, self.sequence)
        self._shown, self._last_update = text, time.monotonic()

    async def finish(self, final_text: str) -> bool:
        """Show the final text and close streaming; False when the card could not carry the answer."""
        if not self.card_id or self.failed:
            return False
        try:
            await self._show(final_text)
            await self._pace()
            self.sequence += 1
            await self.feishu.close_streaming(self.card_id, self.sequence)
            self._last_update = time.monotonic()
            return True
        except Exception as exc:
            log.warning("streaming.finish_failed", error=str(exc))
            return False
