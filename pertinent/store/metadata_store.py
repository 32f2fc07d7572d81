"""The metadata store: resources, the job queue and the event log, over SQLAlchemy Core.

One implementation serves SQLite (embedded default, WAL) and PostgreSQL (scale-out); the URL picks.
Records are plain snake_case dicts; the store knows nothing about what a resource means.
"""

from __future__ import annotations

import builtins
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, delete, event, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from pertinent.errors import ResourceAlreadyExistsException
from pertinent.store.schema import jobs, metadata, resources

Record = dict[str, Any]


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    arn: str
    state: str


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged event survives a power cut
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_store_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout, one connection per checkout."""
    if url.startswith("sqlite"):
        engine = create_engine(url, poolclass=NullPool, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class MetadataStore:
    """Resources, jobs and events. Thread-safe; writes are serialized per process on SQLite."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_store_engine(url)
        self.is_sqlite = url.startswith("sqlite")
        self._write_lock = threading.RLock()
        metadata.create_all(self.engine)
        self.worker_name = f"{socket.gethostname()}:{id(self)}"

    def close(self) -> None:
        self.engine.dispose()

    # -- transactions -------------------------------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction. On SQLite it holds the process write lock so writers never deadlock."""
        if self.is_sqlite:
            with self._write_lock, self.engine.connect() as conn:
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
            else:
                with self.write() as c:
                    c.execute(insert(resources).values(**row))
        except IntegrityError:
            raise ResourceAlreadyExistsException(f"The resource {arn} already exists.") from None

    def get(self, arn: str, kind: str | None = None, conn: Connection | None = None) -> Record | None:
        query = select(resources.c.body).where(resources.c.arn == arn)
        if kind is not None:
            query = query.where(resources.c.kind == kind)
        if conn is not None:
            body = conn.execute(query).scalar()
        else:
            with self.read() as c:
                body = c.execute(query).scalar()
        return None if body is None else dict(json.loads(body))

    def update(self, arn: str, changes: Mapping[str, Any] | Callable[[Record], Record]) -> Record | None:
        """Apply ``changes`` (a dict merged in, or a function of the record) atomically; None if gone."""
        with self.write() as conn:
            body = conn.execute(select(resources.c.body).where(resources.c.arn == arn)).scalar()
            if body is None:
                return None
            record: Record = json.loads(body)
            record = changes(record) if callable(changes) else {**record, **changes}
            conn.execute(update(resources).where(resources.c.arn == arn).values(body=json.dumps(record)))
            return record

    def delete(self, arn: str, conn: Connection | None = None) -> None:
        if conn is not None:
            conn.execute(delete(resources).where(resources.c.arn == arn))
        else:
            with self.write() as c:
                c.execute(delete(resources).where(resources.c.arn == arn))

    def list(
        self,
        kind: str,
        parent_arn: str | None = None,
        offset: int = 0,
        limit: int | None = None,
        conn: Connection | None = None,
    ) -> list[Record]:
        """Records of ``kind`` (under ``parent_arn`` if given), newest first, ARN breaking ties."""
        query = select(resources.c.body).where(resources.c.kind == kind)
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
        query = select(func.count()).select_from(resources).where(resources.c.kind == kind)
        if parent_arn is not None:
            query = query.where(resources.c.parent_arn == parent_arn)
        if conn is not None:
            return int(conn.execute(query).scalar_one())
        with self.read() as c:
            return int(c.execute(query).scalar_one())

    # -- jobs ---------------------------------------------------------------------------------------
    def enqueue(self, kind: str, arn: str, conn: Connection | None = None) -> None:
        values = {"kind": kind, "arn": arn, "state": "queued", "created": time.time()}
        if conn is not None:
            conn.execute(insert(jobs).values(**values))
        else:
            with self.write() as c:
                c.execute(insert(jobs).values(**values))

    def claim(self, kinds: tuple[str, ...] | None = None) -> Job | None:
        """Take the oldest queued job (of ``kinds``) for this worker, or None."""
        with self.write() as conn:
            query = select(jobs.c.id, jobs.c.kind, jobs.c.arn).where(jobs.c.state == "queued")
            if kinds is not None:
                query = query.where(jobs.c.kind.in_(kinds))
            query = query.order_by(jobs.c.id).limit(1)
            if not self.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            row = conn.execute(query).first()
            if row is None:
                return None
            conn.execute(
                update(jobs)
                .where(jobs.c.id == row.id)
                .values(state="running", started=time.time(), worker=self.worker_name)
            )
            return Job(row.id, row.kind, row.arn, "running")

    def finish(self, job_id: int, state: str) -> None:
        with self.write() as conn:
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(state=state))

    def orphaned_jobs(self) -> builtins.list[Job]:
        """Jobs marked running: at start-up of an embedded server, their process is gone."""
        with self.read() as conn:
            rows = conn.execute(select(jobs.c.id, jobs.c.kind, jobs.c.arn).where(jobs.c.state == "running"))
            return [Job(r.id, r.kind, r.arn, "running") for r in rows]

    def pending_jobs(self, kind: str) -> int:
        with self.read() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(jobs)
                    .where(jobs.c.kind == kind, jobs.c.state.in_(("queued", "running")))
                ).scalar_one()
            )
