"""The job worker's settings that keep jobs from being lost between Redis and SAQ."""

from __future__ import annotations

from app.composition import JOBS
from app.jobs import build_worker
from app.resources import Resources


def test_a_dequeue_ends_on_the_server_before_the_client_gives_up(resources: Resources) -> None:
    # A BLMOVE that outlives the client's socket timeout is abandoned by the client while the server
    # may still move a job into SAQ's active list; that job then waits a minute for SAQ's sweep
    # (this stalled generations in CI). The server's own wait must end first.
    worker = build_worker(resources, JOBS, in_process=True)
    socket_timeout = resources.jobs.queue.redis.connection_pool.connection_kwargs["socket_timeout"]
    assert worker.dequeue_timeout > 0
    assert worker.dequeue_timeout < socket_timeout
