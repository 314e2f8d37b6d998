"""A faithful local emulator of the Feishu/Lark Open Platform (Open API + event delivery).

Start it in-process with :class:`Emulator` or blocking with :func:`run_emulator`.
"""

from emulator.config import EmulatorConfig
from emulator.runner import Emulator, run_emulator

__all__ = ["Emulator", "EmulatorConfig", "run_emulator"]
