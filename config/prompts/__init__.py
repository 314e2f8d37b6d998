"""Versioned prompt files: `<name>.v<version>[.<language>].md` with front matter naming both.

A prompt's body holds a `<!-- system -->` part and a `<!-- user -->` part; `{{placeholders}}` in them are filled
by `Prompt.render`. Prompts are never edited in place: a change is a new version, so answers can be traced
to the exact prompt that produced them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parent
DEFAULT_LANGUAGE = "zh-CN"

_FILENAME = re.compile(r"^(?P<name>[a-z0-9_]+)\.v(?P<version>\d+)(?:\.(?P<language>[A-Za-z-]+))?\.md$")
_FRONT_MATTER = re.compile(r"\A---\n(?P<head>.*?)\n---\n", re.DOTALL)
_SECTION = re.compile(r"^<!--\s*(system|user)\s*-->\s*$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


class PromptNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Prompt:
    name: str
    version: int
    text: str
    language: str = DEFAULT_LANGUAGE

    @property
    def system(self) -> str:
        return self._section("system")

    @property
    def user(self) -> str:
        return self._section("user")

    def _section(self, which: str) -> str:
        parts = _SECTION.split(self.text)
        # split() gives [before, tag, body, tag, body, ...]
        for tag, body in zip(parts[1::2], parts[2::2], strict=True):
            if tag == which:
                return body.strip()
        return ""

    def render(self, **values: str) -> list[dict[str, str]]:
        """System and user messages with `{{name}}` filled in one pass (values may contain braces)."""

        def fill(template: str) -> str:
            def sub(m: re.Match[str]) -> str:
                if m.group(1) not in values:
                    raise KeyError(f"prompt {self.name} v{self.version} needs {{{{{m.group(1)}}}}}")
                return values[m.group(1)]

            return _PLACEHOLDER.sub(sub, template)

        messages = []
        if self.system:
            messages.append({"role": "system", "content": fill(self.system)})
        messages.append({"role": "user", "content": fill(self.user or self.text)})
        return messages


def _parse(path: Path) -> Prompt:
    m = _FILENAME.match(path.name)
    if m is None:
        raise ValueError(f"prompt file name must be <name>.v<version>[.<language>].md: {path.name}")
    raw = path.read_text(encoding="utf-8")
    head: dict[str, str] = {}
    fm = _FRONT_MATTER.match(raw)
    if fm:
        for line in fm.group("head").splitlines():
            key, sep, value = line.partition(":")
            if sep:
                head[key.strip()] = value.strip()
        raw = raw[fm.end():]
    name, version = m.group("name"), int(m.group("version"))
    # The front matter and the file name must agree, or a copied file would report the wrong version.
    if head.get("name", name) != name or int(head.get("version", version)) != version:
        raise ValueError(f"front matter of {path.name} disagrees with its file name")
    language = m.group("language") or head.get("language") or DEFAULT_LANGUAGE
    return Prompt(name=name, version=version, text=raw.strip() + "\n", language=language)


@lru_cache(maxsize=8)
def _catalogue(directory: Path) -> dict[tuple[str, int, str | None], Prompt]:
    """(name, version, language suffix or None for the default file) -> Prompt."""
    found: dict[tuple[str, int, str | None], Prompt] = {}
    for path in sorted(directory.glob("*.md")):
        m = _FILENAME.match(path.name)
        if m is None:
            continue
        found[(m.group("name"), int(m.group("version")), m.group("language"))] = _parse(path)
    return found


def load_prompt(
    name: str, version: int | None = None, language: str | None = None, *, directory: Path | None = None
) -> Prompt:
    """The prompt `name` at `version` (latest when None), in `language` when a variant exists, else the default."""
    directory = (directory or PROMPTS_DIR).resolve()
    catalogue = _catalogue(directory)
    versions = sorted({v for (n, v, _) in catalogue if n == name})
    if not versions:
        raise PromptNotFound(f"no prompt named {name!r} in {directory}")
    chosen = versions[-1] if version is None else version
    if chosen not in versions:
        raise PromptNotFound(f"prompt {name!r} has versions {versions}, not {version}")
    default = catalogue.get((name, chosen, None))
    if language:
        variant = catalogue.get((name, chosen, language))
        if variant is not None:
            return variant
        if default is not None and default.language == language:
            return default
        # "en-US" finds an "en" variant.
        short = catalogue.get((name, chosen, language.split("-")[0]))
        if short is not None:
            return short
    if default is None:
        raise PromptNotFound(f"prompt {name!r} v{chosen} has no default-language file")
    return default
