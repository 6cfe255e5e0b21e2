"""The job worker's settings that keep jobs from being lost between Redis and SAQ, and which Redis
errors make a job wait in PostgreSQL (app.job_outage)."""

from __future__ import annotations

import pytest
from redis import exceptions as redis_errors

from app.composition import JOBS
from app.job_outage import redis_unavailable
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


@pytest.mark.parametrize(
    ("error", "waits"),
    [
        (redis_errors.ConnectionError("Connection refused"), True),
        (redis_errors.TimeoutError("Timeout reading from socket"), True),
        (redis_errors.BusyLoadingError("Redis is loading the dataset in memory"), True),
        (redis_errors.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."), True),
        (redis_errors.ReadOnlyError("You can't write against a read only replica."), True),
        # A command inside a script (SAQ enqueues with one) passes its refusal on as plain text.
        (
            redis_errors.ResponseError(
                "Error running script (call to f_0): @user_script:3: -OOM command not allowed when used "
                "memory > 'maxmemory'."
            ),
            True,
        ),
        (
            redis_errors.ResponseError("MISCONF Redis is configured to save RDB snapshots, but it's failing"),
            True,
        ),
        # A bug is not an outage: waiting for it to pass would hold the jobs behind it forever.
        (
            redis_errors.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
            False,
        ),
        (redis_errors.DataError("Invalid input of type: 'dict'."), False),
        (ValueError("not a Redis error"), False),
    ],
)
def test_which_redis_errors_make_work_wait_in_postgresql(error: Exception, waits: bool) -> None:
    assert redis_unavailable(error) is waits
