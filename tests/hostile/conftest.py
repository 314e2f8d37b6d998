"""The Feishu emulator fixture of the integration suite, for the privacy stories here."""

from tests.integration.conftest import emulator  # noqa: F401 (a fixture, used by name)
