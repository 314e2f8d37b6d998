"""Retrieval and answers over Milvus."""
