"""Fuzz the live API with schemathesis, from the committed openapi/openapi.json (`make fuzz`).

1. Creates a user and a moderator with `remixfeed users create` in a throwaway data directory, then
   starts `remixfeed serve` there on a free port: embedded PostgreSQL and Redis, the in-process job
   worker and the Sora simulator, what `make run` starts. Rate limits and the daily generation
   quota are raised so that 429s do not hide the rest of the API.
2. Seeds data through the API (another adult and a teen, drafts, posts, a remix, a comment and a
   reply, reports, a takedown request, cameos), and hands their ids to schemathesis as
   dictionaries, so that path parameters and id fields name real things half of the time.
3. Runs `schemathesis run` once per entry of PASSES (a user over every operation, a teen where age
   changes the rules, a moderator over the moderation queues): its coverage, fuzzing and stateful
   phases, links between operations inferred by schemathesis, the checks and settings of
   tests/fuzz/schemathesis.toml. The seed is fixed and each operation gets a bounded number of
   examples, so a run takes a couple of minutes and asks the same questions each time.
4. Fails the run also when a pass's token no longer works at the end (its account deleted: DELETE
   /v1/me is fuzzed with wrong passwords only, see tests/fuzz/schemathesis.toml), when the server
   logged an error (a job that broke on fuzzed data answers nothing schemathesis could see), or
   when it exited.
5. Stops the server (SIGINT to its process group, as Ctrl-C would, then SIGKILL if it hangs), stops
   anything still running from the data directory, and deletes it, also when a step failed or the
   run was interrupted (Ctrl-C, SIGTERM).

Exit status 0 when nothing was found. Each failure comes with a curl command that reproduces it;
turn it into a regular test in the tests/<package>/test_bad_input*.py file that matches the route.

    .venv/bin/python -m tests.fuzz.run [--max-examples N] [--seed S] [--keep] [-- schemathesis args]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCHEMA = ROOT / "openapi" / "openapi.json"
CONFIG = Path(__file__).with_name("schemathesis.toml")

PASSWORD = "fuzz-password-1"
USER, OTHER, TEEN, MODERATOR = "fuzzer", "fuzzother", "fuzzteen", "fuzzmod"


@dataclass(frozen=True)
class Pass:
    """One `schemathesis run`: whose token it sends, and which operations (all when none given)."""

    username: str
    about: str
    select: tuple[str, ...] = ()


PASSES = (
    Pass(USER, "an adult user, every operation"),
    Pass(
        TEEN,
        "a teen, where age changes the rules (feed pacing, cameos, profiles, videos)",
        ("--include-path-regex", r"^/v1/(feed|me|users|cameos|generations|videos)\b"),
    ),
    Pass(MODERATOR, "a moderator, the moderation operations", ("--include-path-regex", r"^/v1/moderation/")),
)

# Raised so the fuzz reaches the handlers. Every limited operation still documents its 429
# (tests/app/test_rate_limits.py checks that, and the limits themselves).
UNLIMITED = "1000000/minute"
SERVER_ENV = {
    **{
        f"REMIXFEED_{name}_RATE_LIMIT": UNLIMITED
        for name in (
            "SIGNUP",
            "TOKEN",
            "LOGIN",
            "REPORT",
            "EXPORT",
            "WRITE",
            "FEED",
            "READ",
            "IP_WRITE",
            "IP_READ",
        )
    },
    "REMIXFEED_DAILY_GENERATION_LIMIT": "100000",
    # The simulator's videos take this long to "render", and the worker polls this often.
    "REMIXFEED_SIMULATOR_SECONDS": "0.5",
    "REMIXFEED_GENERATION_POLL_SECONDS": "0.5",
    # Longer than the run, so the token schemathesis holds stays valid throughout.
    "REMIXFEED_ACCESS_TOKEN_TTL_SECONDS": "7200",
    "REMIXFEED_LOG_JSON": "true",
}


class Failed(Exception):
    """The run could not be set up (as opposed to schemathesis finding something)."""


def log(message: str) -> None:
    print(f"[fuzz] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def child_env(data_dir: Path) -> dict[str, str]:
    """The server's environment: a fresh embedded PostgreSQL and Redis and the simulator, whatever
    the caller's shell points at (the fuzz never touches anyone's data)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DATABASE_URL", "REDIS_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"}
        and not name.startswith("REMIXFEED_")
    }
    return {**env, **SERVER_ENV, "REMIXFEED_DATA_DIR": str(data_dir)}


def create_account(env: dict[str, str], username: str, role: str) -> dict[str, str]:
    result = subprocess.run(
        [
            str(BIN / "remixfeed"),
            "users",
            "create",
            "--username",
            username,
            "--email",
            f"{username}@fuzz.test",
            "--password",
            PASSWORD,
            "--role",
            role,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise Failed(f"users create {username} failed:\n{result.stdout}{result.stderr}")
    created: dict[str, str] = json.loads(result.stdout[result.stdout.index("{") :])
    return created


class Server:
    """`remixfeed serve` in its own process group, its output in a log file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [str(BIN / "remixfeed"), "serve", "--port", str(self.port)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Failed(f"the server exited with {self.process.returncode}:\n{self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise Failed(f"the server was not ready within {timeout:.0f} s:\n{self.tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                log("the server did not stop within 60 s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # Anything left in the group (a worker that outlived its parent) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self._log.close()

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def errors(self) -> list[str]:
        """The server's own account of what went wrong: its log lines at error level, from structlog
        (JSON), the standard library's loggers (SAQ) and granian."""
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith(("ERROR ", "CRITICAL ", "[ERROR]", "[CRITICAL]")):
                found.append(line)
            elif line.startswith("{"):
                with contextlib.suppress(ValueError):
                    if json.loads(line).get("level") in {"error", "critical"}:
                        found.append(line)
        return found


def stop_leftovers(data_dir: Path) -> None:
    """PostgreSQL is started by pg_ctl, outside the server's process group; if the server died
    before stopping it, stop it here so that nothing outlives the run."""
    import psutil

    left = []
    for process in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if str(data_dir) in " ".join(process.info["cmdline"] or []):
                process.terminate()
                left.append(process)
    _, alive = psutil.wait_procs(left, timeout=10)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()


class Api:
    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def call(self, method: str, path: str, token: str | None, expect: int, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.http.request(method, path, headers=headers, json=body)
        if response.status_code != expect:
            raise Failed(f"seeding: {method} {path} -> {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def post(self, path: str, token: str | None, expect: int, body: Any = None) -> Any:
        return self.call("POST", path, token, expect, body)

    def token(self, login: str) -> str:
        tokens = self.post("/v1/auth/token", None, 200, {"login": login, "password": PASSWORD})
        return str(tokens["access_token"])

    def generate(self, token: str, prompt: str) -> str:
        return str(self.post("/v1/generations", token, 202, {"prompt": prompt, "seconds": 4})["id"])

    def draft_of(self, token: str, generation_id: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            generation = self.call("GET", f"/v1/generations/{generation_id}", token, 200)
            if generation["status"] == "completed":
                return str(generation["video_id"])
            if generation["status"] in {"failed", "blocked", "cancelled"}:
                raise Failed(f"seeding: generation {generation_id} ended {generation['status']}")
            time.sleep(0.2)
        raise Failed(f"seeding: generation {generation_id} did not finish within {timeout:.0f} s")


def seed(api: Api, user: dict[str, str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Tokens by username, and the ids of what was made, by kind."""
    tokens = {USER: api.token(USER), MODERATOR: api.token(MODERATOR)}
    today = date.today()
    for username, birthdate in ((OTHER, "1990-01-15"), (TEEN, today.replace(year=today.year - 15, day=1))):
        signup = {
            "email": f"{username}@fuzz.test",
            "password": PASSWORD,
            "username": username,
            "birthdate": str(birthdate),
            "invite_code": user["invite_code"],
        }
        tokens[username] = str(api.post("/v1/auth/signup", None, 201, signup)["access_token"])
    mine, theirs, teen = tokens[USER], tokens[OTHER], tokens[TEEN]
    for follower, followed in ((mine, OTHER), (theirs, USER), (teen, USER)):
        api.post(f"/v1/users/{followed}/follow", follower, 204)

    # Three videos at once: the other user's post, the user's post and the user's draft.
    started = [
        (theirs, api.generate(theirs, "a lighthouse in a storm, seen from a small boat")),
        (mine, api.generate(mine, "a paper boat drifting down a rainy street")),
        (mine, api.generate(mine, "a cat walking along a garden wall at dusk")),
    ]
    their_post, my_post, my_draft = (api.draft_of(token, generation_id) for token, generation_id in started)
    api.post(f"/v1/videos/{their_post}/publish", theirs, 200, {"caption": "storm"})
    api.post(f"/v1/videos/{my_post}/publish", mine, 200, {"caption": "boat"})
    remix = api.post("/v1/generations", mine, 202, {"prompt": "the storm at night", "remix_of": their_post})
    api.post(f"/v1/videos/{their_post}/like", mine, 204)
    comment = api.post(f"/v1/videos/{their_post}/comments", mine, 201, {"body": "lovely"})
    reply = api.post(
        f"/v1/videos/{their_post}/comments", theirs, 201, {"body": "thanks", "parent_id": comment["id"]}
    )
    # Reports and a takedown request: items in the moderation queues for the moderator's pass.
    report = api.post(
        "/v1/reports", mine, 201, {"target_type": "video", "target_id": their_post, "reason": "spam"}
    )
    api.post("/v1/reports", theirs, 201, {"target_type": "user", "target_id": user["id"], "reason": "spam"})
    takedown = api.post(
        "/v1/takedown-requests", mine, 201, {"video_id": their_post, "reason": "impersonation"}
    )
    cameos = [api.post("/v1/cameos", token, 201)["cameo"]["id"] for token in (mine, teen)]
    ids = {
        "usernames": [USER, OTHER, TEEN, MODERATOR],
        # What a report may name: videos, comments, users (by id) and cameos.
        "targets": [their_post, my_post, comment["id"], reply["id"], user["id"], *cameos],
        "videos": [their_post, my_post, my_draft],
        "generations": [generation_id for _, generation_id in started] + [remix["id"]],
        "comments": [comment["id"], reply["id"]],
        "reports": [report["id"]],
        "cameos": cameos,
        "takedowns": [takedown["id"]],
        # Two uses of the user's invite are left, so sign-up gets past the invite check now and then.
        "invites": [user["invite_code"]],
        "passwords": [PASSWORD],
        # So that half the password-reset requests name real accounts (and send a mail, written to
        # the throwaway data directory), and sign-ups meet a taken email.
        "emails": [f"{username}@fuzz.test" for username in (USER, OTHER, TEEN, MODERATOR)],
    }
    return tokens, ids


# Which dictionary of real ids feeds which parameter (path, query, or a JSON body field). Half of
# the values come from the dictionary, half are generated as usual.
BINDINGS = {
    "path.username": "usernames",
    "path.video_id": "videos",
    "body.video_id": "videos",
    "body.remix_of": "videos",
    "path.generation_id": "generations",
    "path.comment_id": "comments",
    "body.parent_id": "comments",
    "path.report_id": "reports",
    "path.cameo_id": "cameos",
    "path.request_id": "takedowns",
    "body.target_id": "targets",
    "body.cameos[*]": "usernames",
    "body.invite_code": "invites",
    "body.login": "usernames",
    "body.password": "passwords",
    "body.email": "emails",
    # `body.token` (the password-reset confirm) cannot be bound: a reset token is only ever in a
    # mail, so the confirm is fuzzed with tokens the server refuses (400 reset_token_invalid).
    # `body.current_password` is left unbound on purpose: the right one would change the fuzz user's
    # password and sign its token out, and every later request would be a 401.
}


def toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of printable ASCII is a TOML basic string


def write_config(path: Path, ids: dict[str, list[str]]) -> None:
    lines = [CONFIG.read_text(), "", "# Appended by tests/fuzz/run.py: what the seeding created."]
    for name, values in ids.items():
        lines += [f"[dictionaries.{name}]", f"values = [{', '.join(toml_string(v) for v in values)}]", ""]
    lines.append("[parameters]")
    lines += [
        f"{toml_string(key)} = {{ dictionary = {toml_string(name)}, probability = 0.5 }}"
        for key, name in BINDINGS.items()
    ]
    path.write_text("\n".join(lines) + "\n")


def schemathesis(config: Path, url: str, token: str, args: argparse.Namespace, *select: str) -> int:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "--no-color",
        "run",
        str(SCHEMA),
        "--url",
        url,
        "--header",
        f"Authorization: Bearer {token}",
        "--seed",
        str(args.seed),
        "--max-examples",
        str(args.max_examples),
        *select,
        *args.extra,
    ]
    return subprocess.run(command, cwd=ROOT, check=False).returncode


@contextlib.contextmanager
def interrupted_as_exit() -> Iterator[None]:
    """SIGTERM (CI cancelling the job) ends the run through the same cleanup as Ctrl-C."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fuzz.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--max-examples", type=int, default=20, help="test cases per operation and phase")
    parser.add_argument("--seed", type=int, default=20260101, help="schemathesis' random seed")
    parser.add_argument("--keep", action="store_true", help="keep the data directory and the server log")
    parser.add_argument("extra", nargs="*", help="more `schemathesis run` arguments (after --)")
    args = parser.parse_args(argv)

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="remixfeed-fuzz-"))
    data_dir = workdir / "data"
    env = child_env(data_dir)
    server: Server | None = None
    failed = True
    with interrupted_as_exit():
        try:
            log(f"data in {workdir}; creating accounts")
            user = create_account(env, USER, "user")
            create_account(env, MODERATOR, "moderator")
            server = Server(env, workdir / "server.log")
            server.wait_ready()
            log(f"server ready at {server.url}; seeding")
            with httpx.Client(base_url=server.url, timeout=30) as http:
                tokens, ids = seed(Api(http), user)
            config = workdir / "schemathesis.toml"
            write_config(config, ids)

            statuses = []
            for run in PASSES:
                log(f"schemathesis as {run.username}: {run.about}")
                statuses.append(schemathesis(config, server.url, tokens[run.username], args, *run.select))
            failed = any(statuses)
            # A pass that lost its account (deleted, say) answers 401 to everything after, which
            # every operation documents: schemathesis would call that a pass.
            with httpx.Client(base_url=server.url, timeout=30) as http:
                for run in PASSES:
                    me = http.get("/v1/me", headers={"Authorization": f"Bearer {tokens[run.username]}"})
                    if me.status_code != 200:
                        log(f"{run.username}'s token stopped working: {me.status_code} {me.text[:200]}")
                        failed = True
            if server.process.poll() is not None:
                log(f"the server exited during the run:\n{server.tail()}")
                failed = True
            if errors := server.errors():
                log(f"the server logged {len(errors)} errors:\n" + "\n".join(errors[:20]))
                failed = True
        except Failed as exc:
            log(str(exc))
        except KeyboardInterrupt:
            log("interrupted")
        finally:
            if server is not None:
                server.stop()
            stop_leftovers(data_dir)
            if args.keep:
                log(f"kept {workdir} (server.log, schemathesis.toml, data/)")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
    log(f"{'FAILED' if failed else 'passed'} in {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
