"""The metadata store: resources, the job queue and the event log, over SQLAlchemy Core.

One implementation serves SQLite (embedded default, WAL) and PostgreSQL (scale-out); the URL picks.
Records are plain snake_case dicts; the store knows nothing about what a resource means.
"""

from __future__ import annotations

import builtins
import fcntl
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from pertinent.caller import current_caller
from pertinent.errors import ResourceAlreadyExistsException
from pertinent.store.group_commit import GroupCommit
from pertinent.store.retry import retrying
from pertinent.store.schema import SUPERSEDED_INDEXES, events, jobs, metadata, resources, store_state

Record = dict[str, Any]
#: the event log's columns an append writes (``seq`` is assigned by the database)
_EVENT_COLUMNS = tuple(str(c.name) for c in events.columns if c.name != "seq")
_EVENT_COLUMN_SET = frozenset({"seq", *_EVENT_COLUMNS})


def _insert_events(columns: Sequence[str]) -> str:
    return "INSERT INTO events ({}) VALUES ({})".format(
        ", ".join(f'"{c}"' for c in columns), ", ".join("?" for _ in columns)
    )


_INSERT_EVENTS = _insert_events(_EVENT_COLUMNS)
_INSERT_EVENTS_WITH_SEQ = _insert_events(("seq", *_EVENT_COLUMNS))
_MERGE_SESSION = "UPDATE events SET user_id = ? WHERE dataset_group_arn = ? AND session_id = ? AND user_id IS NULL"
#: one append_events call: (received time, rows, sessions to merge)
_EventWork = tuple[float, list[Mapping[str, Any]], list[tuple[str, str, str]]]


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    arn: str
    state: str
    attempt: int = 1  # 1 for the first claim; more when an expired lease was taken over
    previous_worker: str | None = None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged event survives a power cut
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_store_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout on each pooled connection."""
    if url.startswith("sqlite"):
        # pooled connections: the pragmas run once per connection, not once per query
        engine = create_engine(url, pool_size=8, max_overflow=24, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _check_writable(arn: str) -> None:
    caller = current_caller()
    if caller is not None and not caller.owns(arn):
        raise ValueError(f"{arn} is not in the calling account's ARN space ({caller.arn_prefix}…)")


def _readable(arn: str) -> bool:
    caller = current_caller()
    return caller is None or caller.may_read(arn)


def _owned(arn: str) -> bool:
    caller = current_caller()
    return caller is None or caller.owns(arn)


#: PostgreSQL advisory lock held while a process creates or migrates the tables (any constant will do)
SCHEMA_LOCK = 7_406_104


def _create_schema(engine: Engine) -> None:
    """Create the tables and bring a database made by an older version up to date (columns added since
    are nullable or have defaults, so an ``ALTER TABLE … ADD COLUMN`` is the whole migration). On
    PostgreSQL one process at a time does it: replicas that start together would race on CREATE TABLE."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})")
        metadata.create_all(conn)
        present = {c["name"] for c in inspect(conn).get_columns("jobs")}
        for column in jobs.columns:
            if column.name not in present:
                kind = column.type.compile(dialect=engine.dialect)
                default = f" DEFAULT {column.server_default.arg}" if column.server_default is not None else ""  # type: ignore[attr-defined]
                conn.exec_driver_sql(f"ALTER TABLE jobs ADD COLUMN {column.name} {kind}{default}")


class MetadataStore:
    """Resources, jobs and events. Thread-safe; writes are serialized per process on SQLite.

    Inside a request (:func:`pertinent.caller.acting_as`) every resource and event query is confined to the
    caller's account and region: ``get`` of another account's ARN is None, ``list`` and ``count`` never
    return another account's records, ``update``/``delete`` leave them alone, and inserting outside the
    caller's ARN space is a bug (ValueError). Outside a request (the worker) the store is unscoped.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_store_engine(url)
        self.is_sqlite = url.startswith("sqlite")
        self._write_lock = threading.RLock()
        database = self.engine.url.database if self.is_sqlite else None
        self._reader_path = database if database and database != ":memory:" else ""
        self._readers = threading.local()
        self._lock_fd: int | None = None  # the writers' lock file (SQLite), opened on the first write
        self._lock_pid = 0
        self._lock_depth = 0
        self._open_readers: builtins.list[sqlite3.Connection] = []
        if self.is_sqlite:  # a local file: an error here is a wrong path or permissions, not an outage
            _create_schema(self.engine)
            self._upgrade()
        else:  # a process started while PostgreSQL restarts waits for it instead of exiting
            retrying(lambda: _create_schema(self.engine), "create or upgrade the tables")
            retrying(self._upgrade, "upgrade the tables")
        #: who holds a claimed job: host, process id and a random part (unique even when pids repeat)
        self.worker_name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._event_commits: GroupCommit[_EventWork] = GroupCommit(self._commit_events)
        def placeholders(sql: str) -> str:  # the driver's own parameter style
            return sql if self.is_sqlite else sql.replace("?", "%s")

        self._event_sql = (
            placeholders(_INSERT_EVENTS),
            placeholders(_INSERT_EVENTS_WITH_SEQ),
            placeholders(_MERGE_SESSION),
        )

    def _upgrade(self) -> None:
        """Bring a store made by an earlier version up to date: new indexes, the change counter."""
        with self.write() as conn:
            for index in sorted(events.indexes, key=lambda i: str(i.name)):
                columns = ", ".join(str(c.name) for c in index.columns)
                conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {index.name} ON events ({columns})")
            for name in SUPERSEDED_INDEXES:
                conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
        for counter in ("resources", "events_erased"):
            try:
                with self.write() as conn:
                    conn.execute(insert(store_state).values(name=counter, value=0))
            except IntegrityError:
                pass  # already there

    def _query(self, sql: str, params: Sequence[Any]) -> builtins.list[tuple[Any, ...]]:
        """Rows of a read-only ``sql`` (``?`` placeholders) on a pooled driver connection.

        The serving path's reads go straight to the driver: building a statement through SQLAlchemy
        costs about a millisecond, the indexed query itself tens of microseconds."""
        reader = self._reader()
        if reader is not None:  # SQLite: this thread's own autocommit connection, no pool checkout
            return list(reader.execute(sql, tuple(params)).fetchall())
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                cursor.execute(sql if self.is_sqlite else sql.replace("?", "%s"), tuple(params))
                return list(cursor.fetchall())
            finally:
                cursor.close()
        finally:
            raw.close()

    def _reader(self) -> sqlite3.Connection | None:
        """This thread's read-only SQLite connection (None for other databases and in-memory SQLite)."""
        reader: sqlite3.Connection | None = getattr(self._readers, "conn", None)
        if reader is not None or not self._reader_path:
            return reader
        reader = sqlite3.connect(self._reader_path, isolation_level=None, check_same_thread=False)
        reader.execute("PRAGMA busy_timeout=10000")
        self._readers.conn = reader
        with self._write_lock:
            self._open_readers.append(reader)
        return reader

    @staticmethod
    def _bump(conn: Connection) -> None:
        conn.execute(
            update(store_state).where(store_state.c.name == "resources").values(value=store_state.c.value + 1)
        )

    def close(self) -> None:
        self._event_commits.close()  # what is queued is committed first
        with self._write_lock:
            if self._lock_fd is not None and self._lock_pid == os.getpid():
                os.close(self._lock_fd)
            self._lock_fd = None
            for reader in self._open_readers:
                reader.close()
            self._open_readers.clear()
        self.engine.dispose()

    def ping(self) -> None:
        """Raise unless the database answers a trivial query (readiness checks)."""
        with self.read() as conn:
            conn.exec_driver_sql("SELECT 1")

    # -- transactions -------------------------------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction. On SQLite it holds the process write lock so writers never deadlock."""
        if self.is_sqlite:
            with self._write_lock, self._process_lock(), self.engine.connect() as conn:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.rollback()
                    raise
                conn.commit()
        else:
            with self.engine.begin() as conn:
                yield conn

    @contextmanager
    def _process_lock(self) -> Iterator[None]:
        """SQLite: the database's writers in *all* processes take turns on a lock file beside it.

        SQLite's own busy handler polls with sleeps of up to 100 ms, so API processes (``serve --workers``)
        and the job worker writing at once waited far longer than the writes take; a blocking ``flock``
        wakes the next writer the moment the lock is released. Held inside the process's write lock
        (one thread at a time gets here); nested writes take it once."""
        if not self._reader_path:
            yield
            return
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        if self._lock_fd is None or self._lock_pid != os.getpid():  # a forked child opens its own
            self._lock_fd = os.open(f"{self._reader_path}-writers.lock", os.O_RDWR | os.O_CREAT, 0o600)
            self._lock_pid = os.getpid()
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        self._lock_depth = 1
        try:
            yield
        finally:
            self._lock_depth = 0
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    # -- resources ----------------------------------------------------------------------------------
    def insert(
        self,
        kind: str,
        arn: str,
        record: Mapping[str, Any],
        parent_arn: str | None = None,
        conn: Connection | None = None,
    ) -> None:
        """Store a new resource; an existing ARN raises ResourceAlreadyExistsException."""
        _check_writable(arn)
        row = {
            "arn": arn,
            "kind": kind,
            "parent_arn": parent_arn,
            "created": float(record["creation_date_time"]) if "creation_date_time" in record else time.time(),
            "body": json.dumps(dict(record)),
        }
        try:
            if conn is not None:
                conn.execute(insert(resources).values(**row))
                self._bump(conn)
            else:
                with self.write() as c:
                    c.execute(insert(resources).values(**row))
                    self._bump(c)
        except IntegrityError:
            raise ResourceAlreadyExistsException(f"The resource {arn} already exists.") from None

    def get(self, arn: str, kind: str | None = None, conn: Connection | None = None) -> Record | None:
        if not _readable(arn):
            return None
        if conn is not None:
            query = select(resources.c.body).where(resources.c.arn == arn)
            if kind is not None:
                query = query.where(resources.c.kind == kind)
            body = conn.execute(query).scalar()
        elif kind is None:
            rows = self._query("SELECT body FROM resources WHERE arn = ?", (arn,))
            body = rows[0][0] if rows else None
        else:
            rows = self._query("SELECT body FROM resources WHERE arn = ? AND kind = ?", (arn, kind))
            body = rows[0][0] if rows else None
        return None if body is None else dict(json.loads(body))

    def resources_version(self) -> int:
        """A number that grows with every committed change to any resource (cache invalidation)."""
        rows = self._query("SELECT value FROM store_state WHERE name = 'resources'", ())
        return int(rows[0][0]) if rows else 0

    def probe(self) -> tuple[int, int, int]:
        """(:meth:`resources_version`, the newest event seq, how many times events were erased) in one
        round trip: what a request needs to know whether its cached records and histories are current."""
        rows = self._query(
            "SELECT (SELECT value FROM store_state WHERE name = 'resources'), (SELECT max(seq) FROM events), "
            "(SELECT value FROM store_state WHERE name = 'events_erased')",
            (),
        )
        version, seq, erased = rows[0]
        return int(version or 0), int(seq or 0), int(erased or 0)

    def update(self, arn: str, changes: Mapping[str, Any] | Callable[[Record], Record]) -> Record | None:
        """Apply ``changes`` (a dict merged in, or a function of the record) atomically; None if gone."""
        if not _owned(arn):
            return None
        with self.write() as conn:
            body = conn.execute(select(resources.c.body).where(resources.c.arn == arn)).scalar()
            if body is None:
                return None
            record: Record = json.loads(body)
            record = changes(record) if callable(changes) else {**record, **changes}
            conn.execute(update(resources).where(resources.c.arn == arn).values(body=json.dumps(record)))
            self._bump(conn)
            return record

    def delete(self, arn: str, conn: Connection | None = None) -> None:
        if not _owned(arn):
            return
        if conn is not None:
            conn.execute(delete(resources).where(resources.c.arn == arn))
            self._bump(conn)
        else:
            with self.write() as c:
                c.execute(delete(resources).where(resources.c.arn == arn))
                self._bump(c)

    def list(
        self,
        kind: str,
        parent_arn: str | None = None,
        offset: int = 0,
        limit: int | None = None,
        conn: Connection | None = None,
    ) -> list[Record]:
        """Records of ``kind`` (under ``parent_arn`` if given), newest first, ARN breaking ties."""
        query = self._scoped(select(resources.c.body).where(resources.c.kind == kind))
        if parent_arn is not None:
            query = query.where(resources.c.parent_arn == parent_arn)
        query = query.order_by(resources.c.created.desc(), resources.c.arn).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        if conn is not None:
            rows = conn.execute(query).scalars().all()
        else:
            with self.read() as c:
                rows = c.execute(query).scalars().all()
        return [json.loads(body) for body in rows]

    def count(self, kind: str, parent_arn: str | None = None, conn: Connection | None = None) -> int:
        query = self._scoped(select(func.count()).select_from(resources).where(resources.c.kind == kind))
        if parent_arn is not None:
            query = query.where(resources.c.parent_arn == parent_arn)
        if conn is not None:
            return int(conn.execute(query).scalar_one())
        with self.read() as c:
            return int(c.execute(query).scalar_one())

    @staticmethod
    def _scoped(query: Select[Any]) -> Select[Any]:
        caller = current_caller()
        if caller is None:
            return query
        return query.where(resources.c.arn.startswith(caller.arn_prefix, autoescape=True))

    # -- jobs ---------------------------------------------------------------------------------------
    # A claimed job carries its worker's name and a lease (``lease_until``) that the worker renews by
    # heartbeat. No worker touches a job whose lease is live; a job whose lease expired (its worker died or
    # lost the database for longer than the lease) is claimable again, and its ``attempts`` counter says
    # how many times it was claimed so far.
    def enqueue(self, kind: str, arn: str, conn: Connection | None = None) -> None:
        values = {"kind": kind, "arn": arn, "state": "queued", "created": time.time(), "attempts": 0}
        if conn is not None:
            conn.execute(insert(jobs).values(**values))
        else:
            with self.write() as c:
                c.execute(insert(jobs).values(**values))

    @staticmethod
    def _claimable(now: float, take_expired: bool = True) -> Any:
        if not take_expired:
            return jobs.c.state == "queued"
        expired = and_(jobs.c.state == "running", or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < now))
        return or_(jobs.c.state == "queued", expired)

    def _take(self, conn: Connection, row: Any, lease_seconds: float, now: float) -> Job:
        attempts = int(row.attempts or 0) + 1
        conn.execute(
            update(jobs)
            .where(jobs.c.id == row.id)
            .values(
                state="running",
                started=now,
                worker=self.worker_name,
                lease_until=now + lease_seconds,
                attempts=attempts,
            )
        )
        return Job(row.id, row.kind, row.arn, "running", attempts, row.worker)

    def claim(
        self, kinds: tuple[str, ...] | None = None, lease_seconds: float = 30.0, take_expired: bool = True
    ) -> Job | None:
        """Take the oldest queued job (of ``kinds``), or one whose lease expired, for this worker.

        ``take_expired=False`` takes queued jobs only: a worker that has not seen the database for a whole
        lease period (it just started, or the database was away) cannot tell a dead holder from one whose
        renewals the outage stopped, so it leaves expired leases to their holders for that long."""
        now = time.time()
        with self.write() as conn:
            query = select(jobs.c.id, jobs.c.kind, jobs.c.arn, jobs.c.attempts, jobs.c.worker).where(
                self._claimable(now, take_expired)
            )
            if kinds is not None:
                query = query.where(jobs.c.kind.in_(kinds))
            query = query.order_by(jobs.c.id).limit(1)
            if not self.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            row = conn.execute(query).first()
            return None if row is None else self._take(conn, row, lease_seconds, now)

    def claim_arn(self, arn: str, lease_seconds: float = 30.0) -> Job | None:
        """Take the job of ``arn`` for this process, or None if a live worker holds it or none is queued."""
        now = time.time()
        with self.write() as conn:
            query = (
                select(jobs.c.id, jobs.c.kind, jobs.c.arn, jobs.c.attempts, jobs.c.worker)
                .where(jobs.c.arn == arn, self._claimable(now))
                .limit(1)
            )
            if not self.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            row = conn.execute(query).first()
            return None if row is None else self._take(conn, row, lease_seconds, now)

    def renew(self, job_ids: Sequence[int], lease_seconds: float) -> set[int]:
        """Extend this worker's leases on ``job_ids``; returns the ids it still holds (a lost lease drops)."""
        if not job_ids:
            return set()
        now = time.time()
        mine = and_(
            jobs.c.id.in_(list(job_ids)), jobs.c.worker == self.worker_name, jobs.c.state == "running"
        )
        with self.write() as conn:
            conn.execute(update(jobs).where(mine).values(lease_until=now + lease_seconds))
            return {int(i) for i in conn.execute(select(jobs.c.id).where(mine)).scalars()}

    def finish(self, job_id: int, state: str) -> bool:
        """Mark this worker's job ``state`` (done | failed); False when another worker holds it now."""
        with self.write() as conn:
            result = conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.worker == self.worker_name)
                .values(state=state, lease_until=None)
            )
            return bool(result.rowcount)

    def release(self, job_id: int, count_attempt: bool = True) -> None:
        """Give this worker's job back to the queue at once (it ran into a passing database error).
        ``count_attempt=False``: the claim it ends does not count towards the job's maximum of attempts
        (the job did not fail, the database went away under it)."""
        values: dict[str, Any] = {"lease_until": 0.0}
        if not count_attempt:
            values["attempts"] = jobs.c.attempts - 1
        with self.write() as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.worker == self.worker_name, jobs.c.state == "running")
                .values(**values)
            )

    def requeue(self, job_id: int) -> None:
        """Put a claimed job back at the end of the queue (a new id, so the jobs behind it go first)."""
        with self.write() as conn:
            row = conn.execute(
                select(jobs.c.kind, jobs.c.arn, jobs.c.created).where(jobs.c.id == job_id)
            ).first()
            if row is None:
                return
            conn.execute(delete(jobs).where(jobs.c.id == job_id))
            conn.execute(insert(jobs).values(kind=row.kind, arn=row.arn, state="queued", created=row.created))

    def orphaned_jobs(self) -> builtins.list[Job]:
        """Jobs marked running (their leases may be live or expired)."""
        with self.read() as conn:
            rows = conn.execute(select(jobs.c.id, jobs.c.kind, jobs.c.arn).where(jobs.c.state == "running"))
            return [Job(r.id, r.kind, r.arn, "running") for r in rows]

    def job_of(self, job_id: int) -> dict[str, Any] | None:
        """The queue row of ``job_id`` (state, worker, lease, attempts), for operators and tests."""
        with self.read() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
            return None if row is None else dict(row._mapping)

    def running_jobs(self) -> builtins.list[dict[str, Any]]:
        """Queue rows marked running (their leases may be live or expired)."""
        with self.read() as conn:
            rows = conn.execute(select(jobs).where(jobs.c.state == "running").order_by(jobs.c.id))
            return [dict(r._mapping) for r in rows]

    def pending_jobs(self, kind: str) -> int:
        with self.read() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(jobs)
                    .where(jobs.c.kind == kind, jobs.c.state.in_(("queued", "running")))
                ).scalar_one()
            )

    # -- event log ----------------------------------------------------------------------------------
    def append_events(
        self, rows: Sequence[Mapping[str, Any]], merge_sessions: Sequence[tuple[str, str, str]] = ()
    ) -> None:
        """Commit ``rows`` to the event log in one transaction (durable before returning).

        ``merge_sessions`` holds (dataset_group_arn, session_id, user_id): earlier anonymous events of that
        session are attributed to the user, as Personalize does when a user later appears.

        Concurrent calls share a transaction (:class:`~pertinent.store.group_commit.GroupCommit`), so
        they share its fsync; each returns once its own rows are durable.
        """
        self.append_events_later(rows, merge_sessions).result()

    def append_events_later(
        self, rows: Sequence[Mapping[str, Any]], merge_sessions: Sequence[tuple[str, str, str]] = ()
    ) -> Future[None]:
        """:meth:`append_events` without waiting: the future completes once the rows are durable."""
        for row in rows:
            _check_writable(str(row["dataset_group_arn"]))
        return self._event_commits.submit_later((time.time(), list(rows), list(merge_sessions)))

    def _commit_events(self, works: Sequence[_EventWork]) -> None:
        """One transaction for every work, in plain driver SQL (SQLAlchemy's statement building cost more
        than the inserts themselves: this runs once per fsync, for every PutEvents of the batch)."""
        insert_sql, insert_with_seq_sql, merge_sql = self._event_sql
        with self.write() as conn:
            pending: builtins.list[tuple[Any, ...]] = []
            pending_with_seq: builtins.list[tuple[Any, ...]] = []  # rows that bring their own seq

            def flush() -> None:
                if pending:
                    conn.exec_driver_sql(insert_sql, pending)
                    pending.clear()
                if pending_with_seq:
                    conn.exec_driver_sql(insert_with_seq_sql, pending_with_seq)
                    pending_with_seq.clear()

            for received, rows, merge_sessions in works:
                for group, session, user in merge_sessions:
                    # the rows queued before this request's are in, so an earlier request's anonymous
                    # events of the session are merged as they would be one transaction each
                    flush()
                    conn.exec_driver_sql(merge_sql, (user, group, session))
                for row in rows:
                    unknown = row.keys() - _EVENT_COLUMN_SET
                    if unknown:
                        raise ValueError(f"the event log has no column {sorted(unknown)[0]!r}")
                    values = {"received": received, **row}
                    if "seq" in values:
                        pending_with_seq.append(tuple(values.get(c) for c in ("seq", *_EVENT_COLUMNS)))
                    else:
                        pending.append(tuple(values.get(c) for c in _EVENT_COLUMNS))
            flush()

    def delete_user_events(self, dataset_group_arn: str, user_ids: Sequence[str]) -> int:
        """Erase every logged event of these users in the group (an anonymous session's events count
        for a user id equal to its session id, as in :meth:`user_events`); returns how many went."""
        removed = 0
        ids = list(dict.fromkeys(user_ids))
        with self.write() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                result = conn.execute(
                    delete(events).where(
                        events.c.dataset_group_arn == dataset_group_arn,
                        or_(
                            events.c.user_id.in_(chunk),
                            and_(events.c.user_id.is_(None), events.c.session_id.in_(chunk)),
                        ),
                    )
                )
                removed += int(result.rowcount or 0)
            # processes drop their cached histories when they see this counter move (CachedReads)
            conn.execute(
                update(store_state)
                .where(store_state.c.name == "events_erased")
                .values(value=store_state.c.value + 1)
            )
        return removed

    _USER_EVENTS = (
        'SELECT seq, item_id, event_type, event_value, "timestamp", body FROM events '
        "WHERE dataset_group_arn = ? AND user_id = ? AND kind = ? AND seq > ? "
        "UNION ALL "
        'SELECT seq, item_id, event_type, event_value, "timestamp", body FROM events '
        "WHERE dataset_group_arn = ? AND user_id IS NULL AND session_id = ? AND kind = ? AND seq > ? "
        "ORDER BY 1"
    )

    def user_events(
        self, dataset_group_arn: str, user_id: str, after_seq: int = 0, kind: str = "interaction"
    ) -> builtins.list[dict[str, Any]]:
        """The user's logged events of ``kind`` after ``after_seq``, oldest first (an anonymous session's
        events count for a ``user_id`` equal to its session id).

        Two index seeks (user, then anonymous session), so the cost follows the user's own events."""
        if not _owned(dataset_group_arn):
            return []
        params = (dataset_group_arn, user_id, kind, after_seq)
        rows = self._query(self._USER_EVENTS, params + params)
        return [
            {
                "seq": r[0],
                "item_id": r[1],
                "event_type": r[2],
                "event_value": r[3],
                "timestamp": r[4],
                "body": r[5],
            }
            for r in rows
        ]

    def events_since(
        self, after_seq: int, limit: int, seqs: Sequence[int] = ()
    ) -> builtins.list[tuple[int, str, str, str | None, str | None]]:
        """(seq, dataset_group_arn, kind, user_id, session_id) of the events after ``after_seq`` (or,
        when ``seqs`` is given, of those seqs), oldest first, at most ``limit``: what changed since a
        process last looked."""
        columns = "seq, dataset_group_arn, kind, user_id, session_id"
        if seqs:
            marks = ", ".join("?" * len(seqs))
            rows = self._query(f"SELECT {columns} FROM events WHERE seq IN ({marks}) ORDER BY seq", seqs)
        else:
            rows = self._query(
                f"SELECT {columns} FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit)
            )
        return [(int(r[0]), str(r[1]), str(r[2]), r[3], r[4]) for r in rows]

    def events_of_kind(
        self, dataset_group_arn: str, kind: str, after_seq: int = 0
    ) -> builtins.list[dict[str, Any]]:
        """Every logged event of ``kind`` in the group after ``after_seq`` (for catalogs and training)."""
        if not _owned(dataset_group_arn):
            return []
        query = (
            select(events)
            .where(
                events.c.dataset_group_arn == dataset_group_arn,
                events.c.kind == kind,
                events.c.seq > after_seq,
            )
            .order_by(events.c.seq)
        )
        with self.read() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def last_event_seq(self, dataset_group_arn: str, kind: str | None = None) -> int:
        """The group's newest event seq (of ``kind``), 0 if none: one index seek."""
        if not _owned(dataset_group_arn):
            return 0
        if kind is None:
            rows = self._query(
                "SELECT seq FROM events WHERE dataset_group_arn = ? ORDER BY seq DESC LIMIT 1",
                (dataset_group_arn,),
            )
        else:
            rows = self._query(
                "SELECT seq FROM events WHERE dataset_group_arn = ? AND kind = ? ORDER BY seq DESC LIMIT 1",
                (dataset_group_arn, kind),
            )
        return int(rows[0][0]) if rows else 0

    def recent_events(
        self, dataset_group_arn: str, after_seq: int = 0, limit: int = 50
    ) -> builtins.list[dict[str, Any]]:
        """The group's newest ``limit`` logged events after ``after_seq``, newest first (one indexed query)."""
        if not _owned(dataset_group_arn):
            return []
        query = (
            select(
                events.c.seq,
                events.c.kind,
                events.c.user_id,
                events.c.session_id,
                events.c.item_id,
                events.c.event_type,
                events.c.event_value,
                events.c.timestamp,
                events.c.received,
            )
            .where(events.c.dataset_group_arn == dataset_group_arn, events.c.seq > after_seq)
            .order_by(events.c.seq.desc())
            .limit(limit)
        )
        with self.read() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]
