"""Emulator configuration."""

from __future__ import annotations

from dataclasses import dataclass

from config.settings import EmulatorDefaults


@dataclass
class EmulatorConfig:
    app_id: str = EmulatorDefaults.app_id
    app_secret: str = EmulatorDefaults.app_secret
    verification_token: str = EmulatorDefaults.verification_token
    # Empty string: events go out in plaintext and unsigned (as Feishu does without an encrypt key).
    encrypt_key: str = EmulatorDefaults.encrypt_key
    bot_open_id: str = EmulatorDefaults.bot_open_id
    bot_name: str = "larkdesk"
    tenant_key: str = "2ca1d211f64f6438"
    # Where events / card callbacks are POSTed; None: nothing is delivered (recorded as skipped).
    event_callback_url: str | None = None
    card_callback_url: str | None = None  # defaults to event_callback_url
    # Feishu waits 3 s for the answer, then retries at 15 s, 5 min, 1 h, 6 h (times retry_time_scale).
    delivery_timeout_s: float = 3.0
    retry_schedule_s: tuple[float, ...] = (15.0, 300.0, 3600.0, 21600.0)
    retry_time_scale: float = 1.0
    # Delivery options: each event sent N times, batches shuffled, a delay before each send.
    duplicates: int = 1
    # Duplicates carry a fresh event_id (same message): Feishu's receive-message doc says this happens.
    duplicate_new_event_id: bool = False
    reorder: bool = False
    delay_s: float = 0.0
    # Batches delivered at once. 1 keeps strict order (a slow answer holds back later events, as Feishu does
    # for ordered event types); more lets independent events overlap, as Feishu's fan-out does under load.
    delivery_concurrency: int = 1
    # False: the app has only im:message.group_at_msg, so unmentioned group messages are not delivered.
    receive_all_group_messages: bool = True
    # Long connection (lark.ws.Client): "auto" pushes events and card callbacks over it while a client is
    # connected (HTTP otherwise), "websocket" always (no client: the delivery fails and is retried),
    # "webhook" never.
    event_transport: str = "auto"
    longconn_max_connections: int = 50
    longconn_ping_interval_s: float = 120
    longconn_reconnect_count: int = -1
    longconn_reconnect_interval_s: float = 120
    longconn_reconnect_nonce_s: float = 30
    # Limits (Feishu's numbers).
    chat_qps: int = 5  # per chat / per user for im messages (230020)
    docx_qps: int = 5  # per app for docx (99991400)
    card_ops_per_s: int = 10  # per CardKit card
    uuid_ttl_s: float = 3600.0
    callback_token_ttl_s: float = 1800.0
    callback_token_uses: int = 2
    streaming_timeout_s: float = 600.0
    token_ttl_s: int = 7200
    # create_time unit for events: "ms" (im doc) or "us" (overview / card-callback docs).
    card_create_time_unit: str = "us"
    seed: int | None = None

    @property
    def effective_card_callback_url(self) -> str | None:
        return self.card_callback_url or self.event_callback_url
