"""What a test reads off a card the bot sent through the emulator: its buttons."""

from __future__ import annotations

from typing import Any


def buttons(message: dict) -> dict[str, dict]:
    """Visible label → callback value of every button on a card message, however deeply it is nested."""
    found: dict[str, dict] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("tag") == "button":
                found[node["text"]["content"]] = node["behaviors"][0]["value"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message["content"])
    return found
