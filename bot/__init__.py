"""larkdesk Feishu ingress, workers and the outbound Feishu client."""
