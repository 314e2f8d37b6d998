"""Event handlers registered on the bot's registry."""
