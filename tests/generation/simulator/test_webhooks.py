"""Webhooks: signed as OpenAI signs them, so the SDK's own `webhooks.unwrap` accepts them."""

from __future__ import annotations

import base64
import os
import queue
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest

from generation.simulator import SimulatorHandle, run_simulator_in_thread
from tests.generation.simulator.support import control, wait_for

SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()

Delivery = tuple[bytes, dict[str, str]]


class Receiver:
    """A tiny HTTP server that records what is POSTed to it; it can refuse the first few."""

    def __init__(self) -> None:
        self.deliveries: queue.Queue[Delivery] = queue.Queue()
        self.refuse_next = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                if receiver.refuse_next > 0:
                    receiver.refuse_next -= 1
                    self.send_response(503)
                else:
                    receiver.deliveries.put((body, dict(self.headers.items())))
                    self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/openai"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next(self, within: float = 10.0) -> Delivery:
        return self.deliveries.get(timeout=within)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    started = Receiver()
    yield started
    started.close()


@pytest.fixture(scope="module")
def hooked(receiver: Receiver) -> Iterator[SimulatorHandle]:
    handle = run_simulator_in_thread(seconds_per_video=0.3, webhook_url=receiver.url, webhook_secret=SECRET)
    yield handle
    handle.stop()


@pytest.fixture
async def hooked_client(hooked: SimulatorHandle) -> Iterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=hooked.url, api_key="sim", max_retries=0, webhook_secret=SECRET)
    yield client
    await client.close()


async def test_completed_and_failed_jobs_are_announced(
    hooked_client: openai.AsyncOpenAI, hooked: SimulatorHandle, receiver: Receiver
) -> None:
    good = await hooked_client.videos.create(prompt="a calm sea")
    body, headers = receiver.next()
    event = hooked_client.webhooks.unwrap(body, headers)
    assert event.type == "video.completed"  # type: ignore[comparison-overlap]
    assert event.data.id == good.id
    assert event.object == "event"
    assert event.id.startswith("evt_")
    assert headers["webhook-id"] == event.id
    assert (await wait_for(hooked_client, good.id)).status == "completed"

    bad = await hooked_client.videos.create(prompt=f"a storm {hooked.blocked_output_word}")
    body, headers = receiver.next()
    event = hooked_client.webhooks.unwrap(body, headers)
    assert event.type == "video.failed"  # type: ignore[comparison-overlap]
    assert event.data.id == bad.id
    stats = control(hooked, "stats")
    assert stats["webhooks_delivered"] == 2


async def test_the_signature_is_checked(hooked_client: openai.AsyncOpenAI, receiver: Receiver) -> None:
    await hooked_client.videos.create(prompt="tamper with me")
    body, headers = receiver.next()
    hooked_client.webhooks.verify_signature(body, headers)
    with pytest.raises(openai.InvalidWebhookSignatureError):
        hooked_client.webhooks.verify_signature(body.replace(b"video_", b"video_X"), headers)
    other = openai.AsyncOpenAI(api_key="sim", webhook_secret="whsec_" + base64.b64encode(b"k" * 32).decode())
    with pytest.raises(openai.InvalidWebhookSignatureError):
        other.webhooks.unwrap(body, headers)
    await other.close()


async def test_a_refused_delivery_is_retried_with_the_same_event_id(
    hooked_client: openai.AsyncOpenAI, receiver: Receiver
) -> None:
    receiver.refuse_next = 1
    video = await hooked_client.videos.create(prompt="try twice")
    body, headers = receiver.next()
    event = hooked_client.webhooks.unwrap(body, headers)
    assert event.data.id == video.id
    assert receiver.refuse_next == 0
