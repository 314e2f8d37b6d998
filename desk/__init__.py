"""Sessions, escalation and the human desk in Feishu."""
