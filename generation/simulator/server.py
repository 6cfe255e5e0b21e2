"""Serving the simulator: in a background thread (tests, the app's zero-configuration default) or in
the foreground (`remixfeed simulator`)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn

from generation.simulator import policy
from generation.simulator.app import create_simulator_app

STARTUP_TIMEOUT_SECONDS = 15.0
SHUTDOWN_TIMEOUT_SECONDS = 10.0


class SimulatorHandle:
    """A simulator serving in a daemon thread. `url` is the base URL to give the OpenAI client."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, host: str, port: int) -> None:
        self._server = server
        self._thread = thread
        self.host = host
        self.port = port

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.origin}/v1"

    def control_url(self, name: str) -> str:
        """The control API: "faults", "fail-next-job", "stats", "reset"."""
        return f"{self.origin}/_simulator/{name}"

    # Prompt triggers, so callers need not know policy.py: refused at create, or failed at the end.
    blocked_input_word = policy.EXAMPLE_BLOCKED_WORD
    blocked_output_word = policy.OUTPUT_BLOCK_TRIGGER
    # Text triggers of POST /v1/moderations: a clear violation (score 0.97), a borderline one (0.62).
    moderation_clear_word = policy.EXAMPLE_CLEAR_VIOLATION
    moderation_borderline_word = policy.EXAMPLE_BORDERLINE

    def stop(self) -> None:
        """Shut down cleanly: finish open requests, run the app's shutdown, join the thread."""
        self._server.should_exit = True
        self._thread.join(SHUTDOWN_TIMEOUT_SECONDS)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(SHUTDOWN_TIMEOUT_SECONDS)

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def run_simulator_in_thread(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    seconds_per_video: float,
    state_dir: Path | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> SimulatorHandle:
    """Start the simulator on its own event loop in a daemon thread; return once it accepts
    connections. Port 0 picks a free port (see `.port` / `.url`)."""
    app = create_simulator_app(
        seconds_per_video=seconds_per_video,
        state_dir=state_dir,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
    )
    # Bound here rather than by uvicorn, so the port is known (and taken) before the thread starts.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port: int = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def serve() -> None:
        # Off the main thread uvicorn installs no signal handlers; the loop is this thread's own.
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported to the starting thread below
            failure.append(exc)
        finally:
            sock.close()

    thread = threading.Thread(target=serve, name=f"sora-simulator-{bound_port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the Sora simulator failed to start") from (failure[0] if failure else None)
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the Sora simulator did not start within {STARTUP_TIMEOUT_SECONDS} s")
        time.sleep(0.01)
    return SimulatorHandle(server, thread, host, bound_port)


def serve_simulator(
    *,
    host: str,
    port: int,
    seconds_per_video: float,
    state_dir: Path | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> None:
    """Serve in the foreground until interrupted (Ctrl-C)."""
    app = create_simulator_app(
        seconds_per_video=seconds_per_video,
        state_dir=state_dir,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
    )
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=2)
