"""aiohttp application keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from emulator.service import EmulatorService

SERVICE: web.AppKey[EmulatorService] = web.AppKey("emulator_service")
