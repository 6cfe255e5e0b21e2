"""Real, playable media for simulated videos: an H.264 MP4, a WebP thumbnail and a JPEG spritesheet.

Frames are a flat colour chosen from the prompt with a bar sweeping across, drawn with Pillow and
encoded by PyAV's bundled libx264 at a low frame rate. Rendering costs CPU, so results are cached
per (size, seconds, colour); with a small palette, repeated generations mostly hit the cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import tempfile
from collections import OrderedDict
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import msgspec
from PIL import Image, ImageDraw

from generation.simulator.protocol import size_pixels

FPS = 8
SPRITE_TILE_DIVISOR = 4  # sprite tiles are a quarter of the frame in each direction
SPRITE_COLUMNS = 4

# Few colours on purpose: the cache key includes the colour, so the palette bounds the renders.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (214, 69, 65),
    (230, 126, 34),
    (241, 196, 15),
    (39, 174, 96),
    (22, 160, 133),
    (41, 128, 185),
    (142, 68, 173),
    (52, 73, 94),
)
BAR_COLOUR = (245, 245, 245)
TRACK_COLOUR = (20, 20, 20)

MediaKey = tuple[str, str, int]
Box = tuple[int, int, int, int]


class Media(msgspec.Struct, frozen=True):
    video: bytes
    thumbnail: bytes
    spritesheet: bytes


def palette_index(prompt: str) -> int:
    # sha256 rather than hash(): the colour must not change when the simulator restarts.
    return hashlib.sha256(prompt.encode()).digest()[0] % len(PALETTE)


def _shapes(width: int, height: int, index: int, count: int) -> tuple[Box, Box]:
    """The sweeping bar and the bottom progress track of frame `index`, in pixels (inclusive)."""
    bar = max(8, width // 12)
    x = round((width - bar) * index / max(count - 1, 1))
    track = max(6, height // 80)
    return (x, 0, x + bar - 1, height - 1), (
        0,
        height - track,
        round(width * (index + 1) / count) - 1,
        height - 1,
    )


def _rgb_frame(width: int, height: int, colour: tuple[int, int, int], index: int, count: int) -> Image.Image:
    """One frame as an RGB image, for the thumbnail and the spritesheet."""
    image = Image.new("RGB", (width, height), colour)
    bar, track = _shapes(width, height, index, count)
    draw = ImageDraw.Draw(image)
    draw.rectangle(bar, fill=BAR_COLOUR)
    draw.rectangle(track, fill=TRACK_COLOUR)
    return image


def _yuv(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """BT.601 limited range, what an H.264 yuv420p stream is read as by default."""
    r, g, b = rgb
    return (
        round(16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255),
        round(128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255),
        round(128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255),
    )


class _PlaneDrawer:
    """Draws frames straight into the Y, U and V planes with Pillow: converting RGB frames to
    yuv420p costs more than encoding them, and a flat picture loses nothing by skipping it."""

    def __init__(self, width: int, height: int, colour: tuple[int, int, int]) -> None:
        self.width, self.height = width, height
        probe = av.VideoFrame(width, height, "yuv420p")
        # Planes may be padded past their width (line_size); the drawing covers the padding too.
        self.geometry = [(plane.line_size, plane.width, plane.height) for plane in probe.planes]
        background = _yuv(colour)
        self.bases = [
            Image.new("L", (line, rows), background[k]) for k, (line, _, rows) in enumerate(self.geometry)
        ]
        self.bar = _yuv(BAR_COLOUR)
        self.track = _yuv(TRACK_COLOUR)

    def frame(self, index: int, count: int) -> av.VideoFrame:
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        bar, track = _shapes(self.width, self.height, index, count)
        for k, plane in enumerate(frame.planes):
            _, plane_width, _ = self.geometry[k]
            scale = self.width // plane_width  # 1 for luma, 2 for chroma
            image = self.bases[k].copy()
            draw = ImageDraw.Draw(image)
            draw.rectangle(tuple(v // scale for v in bar), fill=self.bar[k])
            draw.rectangle(tuple(v // scale for v in track), fill=self.track[k])
            plane.update(image.tobytes())
        frame.pts = index
        frame.time_base = Fraction(1, FPS)
        return frame


def render_media(size: str, seconds: str, colour_index: int) -> Media:
    """Render the clip and its previews (CPU-bound: call it from a worker thread)."""
    width, height = size_pixels(size)
    colour = PALETTE[colour_index % len(PALETTE)]
    count = int(seconds) * FPS
    with tempfile.TemporaryDirectory(prefix="sora-sim-") as scratch:
        path = Path(scratch) / "video.mp4"
        _encode(path, _PlaneDrawer(width, height, colour), count)
        video = path.read_bytes()
    thumbnail = io.BytesIO()
    _rgb_frame(width, height, colour, 0, count).save(thumbnail, format="WEBP", quality=80)
    tile = (width // SPRITE_TILE_DIVISOR, height // SPRITE_TILE_DIVISOR)
    tiles = [
        _rgb_frame(width, height, colour, index, count).resize(tile, Image.Resampling.BILINEAR)
        for index in range(0, count, FPS)  # one tile per second of video
    ]
    return Media(video=video, thumbnail=thumbnail.getvalue(), spritesheet=_spritesheet(tiles, tile))


def _encode(path: Path, drawer: _PlaneDrawer, count: int) -> None:
    # faststart moves the index to the front so players can start before the file has arrived; it
    # rewrites the file at the end, hence a real file rather than a BytesIO.
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width = drawer.width
        stream.height = drawer.height
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
        for index in range(count):
            container.mux(stream.encode(drawer.frame(index, count)))
        container.mux(stream.encode(None))


def _spritesheet(tiles: list[Image.Image], tile: tuple[int, int]) -> bytes:
    columns = min(SPRITE_COLUMNS, len(tiles))
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (tile[0] * columns, tile[1] * rows))
    for position, image in enumerate(tiles):
        sheet.paste(image, ((position % columns) * tile[0], (position // columns) * tile[1]))
    buffer = io.BytesIO()
    sheet.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


class MediaCache:
    """Renders each key once, in a worker thread, one render at a time; keeps the last few."""

    def __init__(self, *, max_entries: int = 24, on_render: Callable[[], None] | None = None) -> None:
        self._max_entries = max_entries
        self._on_render = on_render
        self._tasks: OrderedDict[MediaKey, asyncio.Task[Media]] = OrderedDict()
        # Renders are CPU-bound; running two at once on a small machine only slows both.
        self._one_at_a_time = asyncio.Semaphore(1)

    async def get(self, size: str, seconds: str, prompt: str) -> Media:
        key = (size, seconds, palette_index(prompt))
        task = self._tasks.get(key)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = asyncio.create_task(self._render(key))
            self._tasks[key] = task
            while len(self._tasks) > self._max_entries:
                self._tasks.popitem(last=False)
        self._tasks.move_to_end(key)
        # Shielded: a client that hangs up mid-render must not cancel it for everyone else.
        return await asyncio.shield(task)

    def prefetch(self, size: str, seconds: str, prompt: str) -> None:
        """Start rendering now, so the first download does not wait for it."""
        task = asyncio.create_task(self.get(size, seconds, prompt))
        task.add_done_callback(_ignore_result)

    async def _render(self, key: MediaKey) -> Media:
        async with self._one_at_a_time:
            media = await asyncio.to_thread(render_media, *key)
        if self._on_render is not None:
            self._on_render()
        return media

    def clear(self) -> None:
        """Forget everything; renders still waiting or running are abandoned."""
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()


def _ignore_result(task: asyncio.Task[Media]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so a failed prefetch is not reported as never awaited
