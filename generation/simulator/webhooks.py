"""Signed webhook events, as OpenAI sends them: Standard Webhooks headers (webhook-id,
webhook-timestamp, webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>") over a JSON
event {"object": "event", "id", "type", "created_at", "data": {"id"}}. The secret is used the way
the SDK's verifier reads it: "whsec_" + base64 key bytes, or else the UTF-8 bytes of the string.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Literal

import httpx
import msgspec

EventType = Literal["video.completed", "video.failed"]

# Delays before the second, third, ... attempt; a receiver that is down longer misses the event.
RETRY_DELAYS = (0.5, 2.0, 5.0)
TIMEOUT_SECONDS = 10.0
USER_AGENT = "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"


class EventData(msgspec.Struct):
    id: str


class Event(msgspec.Struct):
    object: Literal["event"]
    id: str
    type: EventType
    created_at: int
    data: EventData


def secret_key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_request(secret: str, event: Event, *, now: int | None = None) -> tuple[bytes, dict[str, str]]:
    body = msgspec.json.encode(event)
    timestamp = int(time.time()) if now is None else now
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": event.id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, event.id, timestamp, body),
    }
    return body, headers


class WebhookSender:
    """Delivers events in the background, retrying a few times; one event id across retries."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        on_delivered: Callable[[], None],
        on_failed: Callable[[], None],
    ) -> None:
        self.url = url
        self.secret = secret
        self._on_delivered = on_delivered
        self._on_failed = on_failed
        self._client = httpx.AsyncClient(timeout=TIMEOUT_SECONDS)
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, event_type: EventType, video_id: str) -> None:
        event = Event(
            object="event",
            id=f"evt_{secrets.token_hex(24)}",
            type=event_type,
            created_at=int(time.time()),
            data=EventData(id=video_id),
        )
        task = asyncio.create_task(self._deliver(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, event: Event) -> None:
        for delay in (0.0, *RETRY_DELAYS):
            await asyncio.sleep(delay)
            # Signed afresh each attempt: the timestamp must be recent when the receiver checks it.
            body, headers = signed_request(self.secret, event)
            try:
                response = await self._client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError:
                continue
            if response.is_success:
                self._on_delivered()
                return
        self._on_failed()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()
