"""Knowledge sources, chunking and live Feishu doc sync."""
