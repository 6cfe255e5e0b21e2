"""Real media for the recording tests, encoded with PyAV: short clips in each accepted container,
and the near misses (audio only, an image, truncated or padded files)."""

from __future__ import annotations

import io
import tempfile
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import av
import httpx
from PIL import Image

from tests.factories import Actor

FPS = 8

# container format -> (PyAV muxer, video codec, extra muxer options)
FORMATS: dict[str, tuple[str, str, dict[str, str]]] = {
    "mp4": ("mp4", "libx264", {}),
    "mp4-faststart": ("mp4", "libx264", {"movflags": "faststart"}),
    "mov": ("mov", "mpeg4", {}),
    "webm": ("webm", "libvpx", {}),
}


def _frame(width: int, height: int, index: int) -> av.VideoFrame:
    """A grey picture that brightens from frame to frame, so encoders have something to encode."""
    frame = av.VideoFrame(width, height, "yuv420p")
    for number, plane in enumerate(frame.planes):
        value = (40 + 7 * index) % 235 if number == 0 else 128
        plane.update(bytes([value]) * (plane.line_size * plane.height))
    frame.pts = index
    frame.time_base = Fraction(1, FPS)
    return frame


@cache
def clip(seconds: float = 3.0, kind: str = "mp4", width: int = 64, height: int = 64) -> bytes:
    """A playable video of `seconds` (whole frames at 8 fps) in the container `kind`."""
    muxer, codec, options = FORMATS[kind]
    count = max(1, round(seconds * FPS))
    with tempfile.TemporaryDirectory(prefix="cameo-clip-") as scratch:
        # A real file: faststart rewrites it at the end.
        path = Path(scratch) / f"clip.{muxer}"
        with av.open(str(path), mode="w", format=muxer, options=options) as container:
            stream = container.add_stream(codec, rate=FPS)
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            if codec == "libx264":
                stream.options = {"preset": "ultrafast"}
            for index in range(count):
                container.mux(stream.encode(_frame(width, height, index)))
            container.mux(stream.encode(None))
        return path.read_bytes()


@cache
def audio_only(seconds: float = 3.0) -> bytes:
    """An M4A-like MP4 holding only AAC audio (no video stream)."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=44100)
        stream.layout = "mono"
        samples = int(seconds * 44100)
        chunk = 1024
        for start in range(0, samples, chunk):
            frame = av.AudioFrame(format="fltp", layout="mono", samples=chunk)
            frame.planes[0].update(bytes(frame.planes[0].buffer_size))
            frame.sample_rate = 44100
            frame.pts = start
            frame.time_base = Fraction(1, 44100)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def padded(data: bytes, total: int) -> bytes:
    """`data` followed by an MP4 `free` box (which players skip) making it `total` bytes long."""
    extra = total - len(data)
    assert extra >= 8
    return data + extra.to_bytes(4, "big") + b"free" + bytes(extra - 8)


# --- through HTTP ------------------------------------------------------------------------------

CONTENT_TYPES = {"mp4": "video/mp4", "mov": "video/quicktime", "webm": "video/webm"}


async def start(client: httpx.AsyncClient, actor: Actor) -> dict[str, Any]:
    """POST /v1/cameos; the 201 body {cameo, challenge}."""
    response = await client.post("/v1/cameos", headers=actor.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def upload(
    client: httpx.AsyncClient,
    actor: Actor,
    cameo_id: str,
    data: bytes,
    *,
    filename: str = "me.mp4",
    content_type: str = "video/mp4",
) -> httpx.Response:
    return await client.post(
        f"/v1/cameos/{cameo_id}/recording",
        headers=actor.headers,
        files={"file": (filename, data, content_type)},
    )


async def recorded(client: httpx.AsyncClient, actor: Actor, data: bytes | None = None) -> dict[str, Any]:
    """A cameo of `actor` with an accepted recording (pending review); its owner view."""
    cameo = (await start(client, actor))["cameo"]
    response = await upload(client, actor, cameo["id"], data if data is not None else clip())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "pending_review", body
    return body
