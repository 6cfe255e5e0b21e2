"""The simulator's jobs and controls: a job's status is a function of the time since it was created,
so nothing has to tick for it to move, and a restarted simulator picks up where it left off.

Everything lives in memory; with a state directory, jobs, characters and idempotency keys (with
the request each was first used with) are also written to state.json after every change (media is
re-rendered on demand, never stored).
"""

from __future__ import annotations

import os
import secrets
import time
from collections import Counter
from pathlib import Path
from typing import Literal

import msgspec

from generation.simulator.protocol import Character, Status, Video, VideoError

# A job waits in `queued` for this share of its run (at most QUEUED_MAX_SECONDS), then is in_progress.
QUEUED_FRACTION = 0.1
QUEUED_MAX_SECONDS = 2.0
# How long downloads stay available after completion (the real API keeps them about an hour).
ASSET_TTL_SECONDS = 3600

STATE_FILE = "state.json"
STATE_VERSION = 1

Operation = Literal["create", "retrieve", "list", "delete", "content", "remix", "characters", "moderations"]
OPERATIONS: tuple[Operation, ...] = (
    "create",
    "retrieve",
    "list",
    "delete",
    "content",
    "remix",
    "characters",
    "moderations",
)


class Job(msgspec.Struct, kw_only=True):
    id: str
    created_at: float  # wall clock with fractions, so the timeline survives a restart
    duration: float
    model: str
    seconds: str
    size: str
    prompt: str
    remixed_from_video_id: str | None = None
    # Decided when the job is made (output moderation, fail-next-job); shown once it is due.
    failure: VideoError | None = None
    # Set once the job has been seen past its end: its webhook is sent and its media prefetched.
    finished: bool = False

    @property
    def done_at(self) -> float:
        return self.created_at + self.duration

    def status_at(self, now: float) -> tuple[Status, int]:
        elapsed = now - self.created_at
        if elapsed >= self.duration:
            return ("failed", 0) if self.failure is not None else ("completed", 100)
        if elapsed < min(self.duration * QUEUED_FRACTION, QUEUED_MAX_SECONDS):
            return "queued", 0
        return "in_progress", max(1, min(99, int(100 * elapsed / self.duration)))

    def completed_at(self) -> int:
        return int(self.done_at)

    def expires_at(self) -> int:
        return self.completed_at() + ASSET_TTL_SECONDS

    def view(self, now: float) -> Video:
        status, progress = self.status_at(now)
        return Video(
            id=self.id,
            object="video",
            created_at=int(self.created_at),
            completed_at=self.completed_at() if status in ("completed", "failed") else None,
            expires_at=self.expires_at() if status == "completed" else None,
            model=self.model,
            progress=progress,
            prompt=self.prompt,
            remixed_from_video_id=self.remixed_from_video_id,
            seconds=self.seconds,
            size=self.size,
            status=status,
            error=self.failure if status == "failed" else None,
        )


class Fault(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The next `times` requests of `operation` ("any" matches all) are answered this way.

    `status`: an OpenAI-shaped error with that status (and Retry-After when `retry_after` is set,
    and `x-should-retry: true` or `false` when `should_retry` is; `code` its error code, as
    `moderation_blocked` for a policy refusal), the request not carried out.
    `garbage`: 200 with a body that is not JSON. Either waits `delay_seconds` first. A delay alone
    carries the request out and then holds the answer back, the way a slow network makes a client
    time out on a request that did happen.
    """

    operation: Operation | Literal["any"] = "any"
    status: int | None = None
    times: int = 1
    retry_after: float | None = None
    should_retry: bool | None = None
    code: str | None = None
    delay_seconds: float = 0.0
    garbage: bool = False


class FailNextJob(msgspec.Struct, forbid_unknown_fields=True):
    code: str = "internal_error"
    message: str = "Video generation failed."


class Stats(msgspec.Struct):
    requests: dict[str, int]
    jobs_created: int
    remixes_created: int
    characters_created: int
    faults_served: int
    renders: int
    webhooks_delivered: int
    webhooks_failed: int
    # Every video deleted through DELETE /v1/videos/{id}, oldest first.
    deleted_videos: list[str]


class _Saved(msgspec.Struct):
    version: int
    jobs: list[Job]
    characters: list[Character]
    idempotency: dict[str, str]
    fail_next: VideoError | None = None
    deleted: list[str] = msgspec.field(default_factory=list)
    # Absent from a state saved before keys were bound to their first request.
    bound: dict[str, str] = msgspec.field(default_factory=dict)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


class SimulatorState:
    def __init__(self, *, seconds_per_video: float, state_dir: Path | None = None) -> None:
        if seconds_per_video <= 0:
            raise ValueError("seconds_per_video must be positive")
        self.seconds_per_video = seconds_per_video
        self.state_dir = state_dir
        self.jobs: dict[str, Job] = {}  # in creation order
        self.characters: dict[str, Character] = {}
        self.idempotency: dict[str, str] = {}
        # Idempotency-Key -> the request it was first used with (its endpoint and body digest).
        self.bound: dict[str, str] = {}
        self.deleted: list[str] = []  # ids of the videos deleted, oldest first
        self.fail_next: VideoError | None = None
        self.faults: list[Fault] = []
        self.requests: Counter[str] = Counter()
        self.jobs_created = 0
        self.remixes_created = 0
        self.characters_created = 0
        self.faults_served = 0
        self.renders = 0
        self.webhooks_delivered = 0
        self.webhooks_failed = 0
        self._load()

    # Jobs

    def create_job(
        self,
        *,
        prompt: str,
        model: str,
        seconds: str,
        size: str,
        remixed_from_video_id: str | None = None,
        failure: VideoError | None = None,
    ) -> Job:
        if failure is None and self.fail_next is not None:
            failure, self.fail_next = self.fail_next, None
        job = Job(
            id=new_id("video"),
            created_at=time.time(),
            duration=self.seconds_per_video,
            model=model,
            seconds=seconds,
            size=size,
            prompt=prompt,
            remixed_from_video_id=remixed_from_video_id,
            failure=failure,
        )
        self.jobs[job.id] = job
        self.jobs_created += 1
        if remixed_from_video_id is not None:
            self.remixes_created += 1
        self.save()
        return job

    def bind(self, key: str | None, request: str) -> bool:
        """Binds an Idempotency-Key to the first request made with it (`request`: its endpoint and
        a digest of its body), as a real provider does; False when the key was first used with
        another request, which is then refused rather than answered as the first."""
        if not key:
            return True
        first = self.bound.setdefault(key, request)
        if first != request:
            return False
        self.save()
        return True

    def replay(self, scope: str, key: str | None) -> Job | None:
        """The job an earlier request with this Idempotency-Key made, if any."""
        if not key:
            return None
        job_id = self.idempotency.get(f"{scope}:{key}")
        return self.jobs.get(job_id) if job_id else None

    def remember(self, scope: str, key: str | None, job: Job) -> None:
        if key:
            self.idempotency[f"{scope}:{key}"] = job.id
            self.save()

    def delete_job(self, job_id: str) -> None:
        del self.jobs[job_id]
        self.deleted.append(job_id)
        self.idempotency = {key: value for key, value in self.idempotency.items() if value != job_id}
        self.save()

    def mark_finished(self, job: Job) -> None:
        job.finished = True
        self.save()

    def add_character(self, name: str, idempotency_key: str | None = None) -> Character:
        character = Character(id=new_id("char"), created_at=int(time.time()), name=name)
        self.characters[character.id] = character
        self.characters_created += 1
        if idempotency_key:
            self.idempotency[f"characters:{idempotency_key}"] = character.id
        self.save()
        return character

    def replay_character(self, key: str | None) -> Character | None:
        """The character an earlier request with this Idempotency-Key made, if any."""
        if not key:
            return None
        character_id = self.idempotency.get(f"characters:{key}")
        return self.characters.get(character_id) if character_id else None

    # Controls

    def take_fault(self, operation: Operation) -> Fault | None:
        for fault in self.faults:
            if fault.operation in (operation, "any"):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                self.faults_served += 1
                return fault
        return None

    def set_fail_next(self, failure: VideoError) -> None:
        self.fail_next = failure
        self.save()

    def stats(self) -> Stats:
        return Stats(
            requests={operation: self.requests[operation] for operation in OPERATIONS},
            jobs_created=self.jobs_created,
            remixes_created=self.remixes_created,
            characters_created=self.characters_created,
            faults_served=self.faults_served,
            renders=self.renders,
            webhooks_delivered=self.webhooks_delivered,
            webhooks_failed=self.webhooks_failed,
            deleted_videos=list(self.deleted),
        )

    def reset(self) -> None:
        self.jobs.clear()
        self.characters.clear()
        self.idempotency.clear()
        self.bound.clear()
        self.deleted.clear()
        self.fail_next = None
        self.faults.clear()
        self.requests.clear()
        self.jobs_created = self.remixes_created = self.characters_created = self.faults_served = 0
        self.renders = self.webhooks_delivered = self.webhooks_failed = 0
        self.save()

    # Persistence

    def save(self) -> None:
        if self.state_dir is None:
            return
        document = _Saved(
            version=STATE_VERSION,
            jobs=list(self.jobs.values()),
            characters=list(self.characters.values()),
            idempotency=self.idempotency,
            fail_next=self.fail_next,
            deleted=self.deleted,
            bound=self.bound,
        )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / STATE_FILE
        scratch = path.with_suffix(".tmp")
        scratch.write_bytes(msgspec.json.encode(document))
        os.replace(scratch, path)  # atomic: a crash mid-write leaves the previous state

    def _load(self) -> None:
        if self.state_dir is None or not (self.state_dir / STATE_FILE).exists():
            return
        saved = msgspec.json.decode((self.state_dir / STATE_FILE).read_bytes(), type=_Saved)
        if saved.version != STATE_VERSION:
            raise ValueError(
                f"{self.state_dir / STATE_FILE} has version {saved.version}, not {STATE_VERSION}"
            )
        self.jobs = {job.id: job for job in saved.jobs}
        self.characters = {character.id: character for character in saved.characters}
        self.idempotency = dict(saved.idempotency)
        self.bound = dict(saved.bound)
        self.fail_next = saved.fail_next
        self.deleted = list(saved.deleted)
