"""Logging, metrics, health and traces."""
