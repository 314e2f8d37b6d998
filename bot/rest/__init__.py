"""The REST API (`/api/v1/*`), its OpenAPI document (`/openapi.json`) and offline docs page (`/docs`)."""

from bot.rest.mount import mount_rest_api

__all__ = ["mount_rest_api"]
