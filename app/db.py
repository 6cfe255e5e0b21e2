"""Engine, sessions and the one-transaction-per-request boundary.

Services receive an `AsyncSession`, flush when they need database-generated values, and never
commit. The request dependency below commits once after the handler has built its response and
before that response is sent, so a failed COMMIT becomes an error response, never a silent 2xx.
Work that must only happen once the data is durable (jobs, notifications) is registered with
`after_commit` and runs after the COMMIT succeeds.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any
from uuid import UUID

import structlog
from advanced_alchemy.base import orm_registry
from sqlalchemy import MetaData, Text, cast, delete, event, literal, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from app.errors import AppError
from app.settings import Settings

log = structlog.get_logger(__name__)

# advanced-alchemy's registry carries the constraint naming convention (pk_, fk_, uq_, ix_, ck_).
metadata: MetaData = orm_registry.metadata

AfterCommit = Callable[[], Awaitable[None]]
_AFTER_COMMIT_KEY = "remixfeed.after_commit"
_AFTER_ROLLBACK_KEY = "remixfeed.after_rollback"
_COMMIT_FAILED_KEY = "remixfeed.commit_failed"
# How long a check after a failed COMMIT waits for a lock the transaction held. A COMMIT the server
# received ends within moments; one that never reached it leaves its transaction holding its locks
# until the server notices the connection gone, which a request in its error path must not wait for.
CONFIRM_LOCK_TIMEOUT_MS = 5000


def async_url(url: str) -> str:
    """Accept the usual postgres:// and postgresql:// spellings and use asyncpg for them."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


DB_CONNECT_TIMEOUT_SECONDS = 10
DB_POOL_TIMEOUT_SECONDS = 10


def create_engine(settings: Settings, url: str | None = None) -> AsyncEngine:
    database_url = url or settings.database_url
    if not database_url:
        raise RuntimeError("DATABASE_URL is not set and no embedded database was started")
    engine = create_async_engine(
        async_url(database_url),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        # A request waits at most this long for a pooled connection before answering 503.
        pool_timeout=DB_POOL_TIMEOUT_SECONDS,
        connect_args={
            "timeout": DB_CONNECT_TIMEOUT_SECONDS,
            "server_settings": {
                "application_name": settings.process_name,
                # A statement past this is cancelled: a 503 for a request, a retry for a job.
                "statement_timeout": str(settings.db_statement_timeout_seconds * 1000),
            },
        },
    )
    event.listen(engine.sync_engine, "do_connect", _connect_or_unavailable)
    event.listen(engine.sync_engine.pool, "checkout", _discard_if_closed)
    return engine


def _discard_if_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A pooled connection the server has closed (a restart, a crash, a terminated backend) is
    replaced before use. asyncpg sees the close on its socket, so this costs no round trip, where
    `pool_pre_ping` costs three on every checkout (BEGIN, a ping, ROLLBACK): a tenth of a simple
    request's time. A connection cut off while in use is still handled by SQLAlchemy's disconnect
    detection, which invalidates the pool."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def _connect_or_unavailable(dialect: Dialect, _record: Any, cargs: Any, cparams: Any) -> Any:
    """Connect as SQLAlchemy would, but report a server that cannot be reached (refused, its Unix
    socket gone while it restarts, the connect timeout) as the OperationalError it is: asyncpg raises
    plain OSErrors there, which would otherwise reach the client as a 500 instead of a 503."""
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as exc:
        raise OperationalError("connect", None, exc) from exc


UUID_ARRAY = ARRAY(PG_UUID(as_uuid=True))


def uuid_array(values: Sequence[UUID | str]) -> Any:
    """One array parameter for `column == any_(uuid_array(ids))`: a list of ids is one bind (and
    one cached statement), where IN would be a bind per id."""
    ids = [value if isinstance(value, UUID) else UUID(value) for value in values]
    return cast(literal(ids, type_=UUID_ARRAY), UUID_ARRAY)


TEXT_ARRAY = ARRAY(Text)


def text_array(values: Sequence[str]) -> Any:
    """`uuid_array` for strings: `column == any_(text_array(keys))` is one bind however many keys
    (IN's bind per key fails past the driver's 32,767 parameters)."""
    return cast(literal(list(values), type_=TEXT_ARRAY), TEXT_ARRAY)


def advisory_key(name: str) -> int:
    """The 64-bit advisory lock key of a lock's name (every lock in the app is named, such as
    `sessions:<user id>`, so that tests and operators can take the same one)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


async def advisory_xact_lock(session: AsyncSession, name: str, *, shared: bool = False) -> None:
    """The named advisory lock, held until the session's transaction ends."""
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    await session.execute(text(f"SELECT {function}(:key)"), {"key": advisory_key(name)})


async def try_advisory_xact_lock(session: AsyncSession, name: str) -> bool:
    """`advisory_xact_lock` without waiting: whether it was taken."""
    taken = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": advisory_key(name)})
    return bool(taken)


async def delete_oldest(
    session: AsyncSession, model: Any, oldest_first: Any, *where: Any, limit: int
) -> list[Any]:
    """One batch of a retention job: at most `limit` rows of `model` matching `where`, oldest by
    `oldest_first` (which an index must order, so that a batch never reads the whole table), rows
    another transaction holds skipped (left for the next batch: a batch never waits for a lock,
    and runs on several workers take disjoint rows); the ids deleted."""
    found = (
        select(model.id).where(*where).order_by(oldest_first).limit(limit).with_for_update(skip_locked=True)
    )
    deleted = await session.scalars(
        delete(model)
        .where(model.id.in_(found.scalar_subquery()))
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    return list(deleted.all())


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run `callback` once this session's transaction has committed; dropped on rollback."""
    session.info.setdefault(_AFTER_COMMIT_KEY, []).append(callback)


def after_rollback(session: AsyncSession, callback: AfterCommit) -> None:
    """Run `callback` if this session's transaction does not commit (a refusal, an error or a failed
    COMMIT); dropped on commit. For undoing what was done outside the database, such as storing a
    file that no row will point at. When the COMMIT itself failed (`commit_outcome_unknown`), the
    server may have committed all the same (the connection lost or the task cancelled after it sent
    the COMMIT): a callback that deletes what a row would point at must first confirm that none
    does, in `confirming_transaction`."""
    session.info.setdefault(_AFTER_ROLLBACK_KEY, []).append(callback)


def commit_outcome_unknown(session: AsyncSession) -> bool:
    """In an after_rollback callback: whether the transaction ended in a COMMIT that raised, so may
    have committed, rather than in a rollback."""
    return bool(session.info.get(_COMMIT_FAILED_KEY))


async def release_connection(session: AsyncSession) -> None:
    """Gives the request's pooled connection back while it does slow work that needs none (a
    password hash), by ending its transaction so far, which must have written nothing; the next
    statement takes a connection again and begins a new transaction, which the request's boundary
    commits as usual. What the session loaded stays loaded (`expire_on_commit` is off) but is
    neither locked nor current any more: what the rest relies on must be read again, under a lock
    where a race matters."""
    if session.new or session.dirty or session.deleted or session.info.get(_AFTER_COMMIT_KEY):
        raise RuntimeError("release_connection: the transaction has changes of its own")
    # A COMMIT of nothing: unlike a ROLLBACK it leaves what was loaded usable.
    await session.commit()


@asynccontextmanager
async def confirming_transaction(session: AsyncSession) -> AsyncGenerator[AsyncSession, None]:
    """A short transaction of its own on `session`'s engine, for an after_rollback callback to read
    what did commit. The request's only connection, `session`'s, is back in the pool by then (the
    callbacks run after its rollback), so this holds one connection, never a second while waiting
    for it. Locks are waited for at most CONFIRM_LOCK_TIMEOUT_MS (then it raises)."""
    engine = session.bind
    assert isinstance(engine, AsyncEngine), "sessions are bound to the engine"
    async with AsyncSession(engine) as check, check.begin():
        await check.execute(text(f"SET LOCAL lock_timeout = {CONFIRM_LOCK_TIMEOUT_MS}"))
        yield check


async def run_after_commit(session: AsyncSession) -> None:
    session.info.pop(_AFTER_ROLLBACK_KEY, None)
    await _run(session.info.pop(_AFTER_COMMIT_KEY, []), "after_commit_failed")


async def _run_after_rollback(session: AsyncSession) -> None:
    session.info.pop(_AFTER_COMMIT_KEY, None)
    try:
        await _run(session.info.pop(_AFTER_ROLLBACK_KEY, []), "after_rollback_failed")
    finally:
        session.info.pop(_COMMIT_FAILED_KEY, None)


async def _run(callbacks: list[AfterCommit], failure: str) -> None:
    for callback in callbacks:
        try:
            await callback()
        except Exception:
            # The transaction has ended either way; a failed side effect must not change the answer.
            log.exception(failure, callback=getattr(callback, "__qualname__", repr(callback)))


class transaction:
    """One session and one transaction for a whole request: committed when the block ends,
    rolled back when it raises (unless the refusal `keeps_changes`).

    A class rather than an @asynccontextmanager: the request's session dependency is an async
    generator holding this block open, and when a sibling dependency raises, Litestar abandons that
    generator to the garbage collector. Two generators collected together get two concurrent
    aclose() tasks, and the inner one's fails ("asynchronous generator is already running").
    """

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session = session_factory()

    async def __aenter__(self) -> AsyncSession:
        return await self._session.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        session = self._session
        try:
            if exc is None or (isinstance(exc, AppError) and exc.keeps_changes):
                await _commit(session)
            else:
                await _discard(session)
        finally:
            await session.close()


async def _commit(session: AsyncSession) -> None:
    try:
        await session.commit()
    except BaseException:
        # A flush that failed did not commit either; only the COMMIT's outcome is unknown, but
        # callbacks confirming in that case too costs nothing here.
        session.info[_COMMIT_FAILED_KEY] = True
        await _discard(session)
        raise
    await run_after_commit(session)


async def _discard(session: AsyncSession) -> None:
    try:
        await session.rollback()
    finally:
        await _run_after_rollback(session)


def violated_constraint(exc: IntegrityError) -> str | None:
    """The name of the constraint an INSERT or UPDATE broke (asyncpg puts it on the cause)."""
    cause = getattr(exc.orig, "__cause__", None)
    return getattr(cause, "constraint_name", None) or getattr(exc.orig, "constraint_name", None)


async def in_transaction(
    session_factory: async_sessionmaker[AsyncSession], work: Callable[[AsyncSession], Awaitable[Any]]
) -> Any:
    """The same boundary for code outside a request (CLI, jobs)."""
    async with session_factory() as session:
        try:
            result = await work(session)
        except BaseException:
            await _discard(session)
            raise
        await _commit(session)
        return result


async def in_batches(
    session_factory: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[int]],
    *,
    batch: int,
    max_batches: int,
) -> int:
    """`work` (one batch, how many it handled) in a transaction of its own each time, until a batch
    comes short or `max_batches` have run: a sweep's locks and its rows' memory stay one batch's,
    and a run ends however much is left for the next. How many were handled in all."""
    handled = 0
    for _ in range(max_batches):
        count: int = await in_transaction(session_factory, work)
        handled += count
        if count < batch:
            break
    return handled
