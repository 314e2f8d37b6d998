"""Real headless Chromium (Debian's `chromium`) driven by Playwright for Python.

Playwright's own browser download does not work here, so it is pointed at the system Chromium
(CHROMIUM_PATH, else `chromium` on PATH). Where no browser or no Playwright exists the tests skip; under
CI (`CI` set, as `.ci/run` runs) a missing browser fails them instead, so they cannot silently stop running.
Set LARKDESK_SCREENSHOTS=<dir> to save the screenshots the tests take at each state (docs/img/ holds them).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

# Without the background-networking flags Chromium keeps dialling out of this closed network.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run: {reason}")
    pytest.skip(reason)


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One Chromium per test module, with a fresh profile (user data dir)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[dev]')")
    path = chromium_path()
    if path is None:
        _unavailable("no chromium on PATH (apt-get install chromium) and CHROMIUM_PATH unset")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=path, headless=True,
            args=CHROMIUM_ARGS, viewport=DESKTOP, locale="zh-CN")
        context.set_default_timeout(20_000)
        yield context
        context.close()


@pytest.fixture
def page(browser):
    """A fresh tab; any script error on the page fails the test."""
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    tab.close()
    assert errors == [], errors


class Screenshots:
    """Saves full-page screenshots when LARKDESK_SCREENSHOTS names a folder (the README's images)."""

    def __init__(self) -> None:
        folder = os.environ.get("LARKDESK_SCREENSHOTS")
        self.folder = Path(folder) if folder else None
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)

    def take(self, page, name: str, *, without_toasts: bool = False) -> None:
        if self.folder:
            if without_toasts:  # a small screen: the toasts would hide what the picture is about
                page.evaluate("document.getElementById('toasts').replaceChildren()")
            page.wait_for_timeout(300)  # let the last toast or card finish drawing
            page.screenshot(path=str(self.folder / f"{name}.png"))


@pytest.fixture(scope="session")
def screenshots() -> Screenshots:
    return Screenshots()


class LoopThread:
    """An asyncio loop on its own thread: the in-process emulator serves there while Playwright's sync API
    drives the browser from the test's thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="emulator-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout_s: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def call(self, fn, *args, **kwargs) -> Any:
        async def wrapped():
            return fn(*args, **kwargs)

        return self.run(wrapped())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
