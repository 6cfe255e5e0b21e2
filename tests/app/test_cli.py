"""The `remixfeed` command, run as a user would run it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.harness import RunServers, free_port

REMIXFEED = str(Path(sys.executable).parent / "remixfeed")


def _env(**extra: str) -> dict[str, str]:
    unset = ("DATABASE_URL", "REDIS_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.setdefault("REMIXFEED_SIMULATOR_SECONDS", "0.5")
    env.update(extra)
    return env


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=_env(**env), capture_output=True, text=True, timeout=60, check=False)


async def test_users_create_makes_an_account_of_any_role(
    servers: RunServers, client: httpx.AsyncClient
) -> None:
    create = [REMIXFEED, "users", "create", "--username", "mod1", "--password", "moderate-well"]
    result = await asyncio.to_thread(
        _run,
        [*create, "--email", "mod1@example.test", "--role", "moderator"],
        DATABASE_URL=servers.database_url,
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout[result.stdout.index("{") :])
    assert created["username"] == "mod1"
    assert created["role"] == "moderator"
    assert re.fullmatch(r"[A-Z0-9]{6}", created["invite_code"])

    login = await client.post("/v1/auth/token", json={"login": "mod1", "password": "moderate-well"})
    assert login.status_code == 200
    assert login.json()["user"]["role"] == "moderator"

    again = await asyncio.to_thread(
        _run, [*create, "--email", "other@example.test"], DATABASE_URL=servers.database_url
    )
    assert again.returncode != 0
    assert "taken" in again.stderr


def test_users_create_refuses_bad_input_before_touching_anything(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            REMIXFEED,
            "users",
            "create",
            "--username",
            "No Spaces",
            "--email",
            "a@b.test",
            "--password",
            "longenough",
        ],
        env=_env(REMIXFEED_DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "username" in result.stderr
    assert not (tmp_path / "postgres").exists()


def test_openapi_check_passes_on_the_committed_document() -> None:
    result = subprocess.run(
        [REMIXFEED, "openapi", "--check"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


class _Served:
    """`remixfeed serve` on a fresh data dir, as `make run` starts it."""

    def __init__(self, data_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [REMIXFEED, "serve", "--port", str(self.port)],
            env=_env(REMIXFEED_DATA_DIR=str(data_dir), **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "".join(self.lines)
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("server did not become ready:\n" + "".join(self.lines))

    def interrupt(self) -> int:
        os.killpg(self.process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        return self.process.wait(timeout=60)

    def printed(self, label: str) -> str | None:
        for line in self.lines:
            if line.strip().startswith(label):
                return line.split(":", 1)[1].strip().split()[0]
        return None


def _json_line(
    served: _Served, wanted: Callable[[dict[str, Any]], bool], within: float = 10.0
) -> dict[str, Any]:
    """The first JSON log line the server printed that `wanted` accepts (its output is read by a
    thread, so a line may show up a moment after the request that caused it)."""
    deadline = time.monotonic() + within
    while True:
        for line in list(served.lines):
            if line.startswith("{") and wanted(parsed := json.loads(line)):
                return parsed
        assert time.monotonic() < deadline, "no such log line:\n" + "".join(served.lines[-20:])
        time.sleep(0.1)


def _processes_using(data_dir: Path) -> list[Any]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if str(data_dir) in cmdline:
            found.append(process)
    return found


def test_serve_embedded_first_start_restart_and_clean_stop(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = _Served(data_dir)
    try:
        first.wait_ready()
        password, invite = first.printed("password:"), first.printed("invite code:")
        assert password and invite and re.fullmatch(r"[A-Z0-9]{6}", invite), "".join(first.lines)
        signup = httpx.post(
            f"{first.url}/v1/auth/signup",
            json={
                "email": "ada@example.test",
                "password": "lovelace1815",
                "username": "ada",
                "birthdate": "1995-12-10",
                "invite_code": invite,
            },
            timeout=10,
        )
        assert signup.status_code == 201, signup.text
    finally:
        code = first.interrupt()
    assert code == 0, "".join(first.lines)
    assert _processes_using(data_dir) == []

    second = _Served(data_dir, REMIXFEED_LOG_JSON="true")
    try:
        second.wait_ready()
        assert second.printed("password:") is None  # the admin is made once
        # Production logs: one JSON object per line, the access line carrying the request's id.
        live = httpx.get(f"{second.url}/health/live", headers={"X-Request-ID": "probe-42"}, timeout=10)
        assert live.headers["x-request-id"] == "probe-42"
        access = _json_line(
            second, lambda line: line.get("event") == "http_request" and line.get("request_id") == "probe-42"
        )
        assert (access["method"], access["path"], access["status"]) == ("GET", "/health/live", 200)
        admin = httpx.post(
            f"{second.url}/v1/auth/token", json={"login": "admin", "password": password}, timeout=10
        )
        assert admin.status_code == 200 and admin.json()["user"]["role"] == "admin"
        ada = httpx.post(
            f"{second.url}/v1/auth/token", json={"login": "ada", "password": "lovelace1815"}, timeout=10
        )
        assert ada.status_code == 200

        # Generation works out of the box: the simulator and the job worker run inside serve.
        headers = {"Authorization": f"Bearer {ada.json()['access_token']}"}
        accepted = httpx.post(
            f"{second.url}/v1/generations",
            json={"prompt": "a kite", "seconds": 4},
            headers=headers,
            timeout=10,
        )
        assert accepted.status_code == 202, accepted.text
        deadline = time.monotonic() + 60
        while (
            state := httpx.get(f"{second.url}/v1/generations/{accepted.json()['id']}", headers=headers).json()
        )["status"] not in ("completed", "failed", "blocked"):
            assert time.monotonic() < deadline, state
            time.sleep(0.2)
        assert state["status"] == "completed", state
        assert any("simulator" in line for line in second.lines), "".join(second.lines)
    finally:
        assert second.interrupt() == 0
    assert _processes_using(data_dir) == []


def test_the_served_app_leaves_what_lives_as_long_as_its_process_to_no_garbage_collection(
    tmp_path: Path,
) -> None:
    """`remixfeed serve` runs `create_served_app` in each process: the heap built at start (modules,
    routes, schemas, mappers) is frozen, so the collector's full passes do not walk it again."""
    script = (
        "import gc; from app.factory import create_served_app; "
        "create_served_app(); print(gc.get_freeze_count())"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=_env(REMIXFEED_DATA_DIR=str(tmp_path), REMIXFEED_SECRET_KEY="s" * 40),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[-1]) > 100_000, result.stdout
