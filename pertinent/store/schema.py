"""The metadata tables, in SQLAlchemy Core so SQLite and PostgreSQL share one definition."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

#: Every Personalize resource is one row; ``body`` holds its snake_case record as JSON.
resources = Table(
    "resources",
    metadata,
    Column("arn", String(512), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("parent_arn", String(512), nullable=True),
    Column("created", Float, nullable=False),
    Column("body", Text, nullable=False),
    Index("ix_resources_kind_parent", "kind", "parent_arn"),
)

#: Background work: import jobs, training, activation of light resources.
jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    Column("arn", String(512), nullable=False),
    Column("state", String(16), nullable=False),  # queued | running | done | failed
    Column("created", Float, nullable=False),
    Column("started", Float, nullable=True),
    Column("worker", String(128), nullable=True),
    Column("lease_until", Float, nullable=True),  # the worker renews it by heartbeat while it runs the job
    Column("attempts", Integer, nullable=False, server_default="0"),  # claims so far (retries after expiry)
    Index("ix_jobs_state", "state", "id"),
)

#: The event log: every PutEvents/PutItems/PutUsers record, committed before the 200.
events = Table(
    "events",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("dataset_group_arn", String(512), nullable=False),
    Column("kind", String(32), nullable=False),  # interaction | item | user | action | action_interaction
    Column("user_id", String(256), nullable=True),
    Column("session_id", String(256), nullable=True),
    Column("item_id", String(256), nullable=True),
    Column("event_type", String(256), nullable=True),
    Column("event_value", Float, nullable=True),
    Column("timestamp", Float, nullable=False),
    Column("body", Text, nullable=True),
    Column("received", Float, nullable=False),
    # every read of the serving path is an index seek (MetadataStore.user_events, events_of_kind,
    # last_event_seq): cost grows with the user's events, never with the size of the log
    Index("ix_events_group_seq", "dataset_group_arn", "seq"),
    Index("ix_events_group_user_kind_seq", "dataset_group_arn", "user_id", "kind", "seq"),
    Index("ix_events_group_session_kind_seq", "dataset_group_arn", "session_id", "kind", "seq"),
    Index("ix_events_group_kind_seq", "dataset_group_arn", "kind", "seq"),
)

#: indexes of earlier versions that the ones above supersede (dropped when a store opens)
SUPERSEDED_INDEXES = ("ix_events_group_user", "ix_events_group_session")

#: one row per counter; ``resources`` grows by one in every transaction that changes a resource, so a
#: process can cache records and learn of any change (its own or another replica's) with one cheap read
store_state = Table(
    "store_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)
