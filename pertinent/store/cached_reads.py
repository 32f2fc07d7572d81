"""Reads of the serving path, kept in the process and invalidated by change, never by a timer.

A request first *probes* the store (one round trip of three primary-key lookups): the resources version,
which grows with every committed change to any resource, the newest event seq, and a counter of event
erasures (data deletion jobs; every cached history is dropped when it moves). Then:

* resource records (campaign, solution version, filter, tracker, datasets, schemas) come from memory until
  the version moves: UpdateCampaign, a filter change or a new dataset is seen by the very next request of
  every process and replica;
* when the event seq moved, the events logged since (only their seq, group, kind, user and session) are
  read once, and the per-user histories they touch are dropped; the newest seq of each (group, kind) that
  was asked for is tracked from them, for the catalog's and the users' cache keys;
* a user's logged interactions are read from the store (two index seeks) only when the user is not cached.

So an acknowledged PutEvents, in this process or another, changes the next answer, and the cost of a
request does not grow with the size of the event log. A seq that is missing below the newest one belongs
to a transaction still committing (PostgreSQL hands out sequence numbers before commit) or rolled back: it
is looked for again on each refresh until :data:`GAP_SECONDS` have passed, so a late commit is not missed.
"""

from __future__ import annotations

import builtins
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pertinent.caller import current_caller
from pertinent.store.metadata_store import MetadataStore

Record = dict[str, Any]
Event = dict[str, Any]

#: events read per catch-up; a log that moved further than this drops every cached history instead
CATCH_UP_LIMIT = 5000
#: logged histories kept (the cache is emptied when it grows past this)
MAX_CACHED_USERS = 200_000
#: how long a missing seq below the newest one may still turn up (a transaction committing late)
GAP_SECONDS = 10.0
#: at most this many missing seqs are watched at once (the oldest are given up first)
MAX_GAPS = 1000


@dataclass
class _EventState:
    seq: int = -1  # every event up to here (except the gaps) has been seen; -1: not looked yet
    epoch: int = 0  # grows whenever histories were dropped; a read that raced with it is not cached
    kinds: dict[tuple[str, str], int] = field(default_factory=dict)  # (group, kind) → newest seq
    users: dict[tuple[str, str], list[Event]] = field(default_factory=dict)  # (group, user) → events
    gaps: dict[int, float] = field(default_factory=dict)  # missing seq → when it was first missed


def _owned(arn: str) -> bool:
    caller = current_caller()
    return caller is None or caller.owns(arn)


class CachedReads:
    """One process's cache of resource records and per-user event histories over a MetadataStore."""

    def __init__(self, store: MetadataStore, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._version = -1
        self._erased = -1
        self._records: dict[tuple[str, str | None], Record | None] = {}
        self._lists: dict[tuple[str, str | None, str | None], list[Record]] = {}
        self._events = _EventState()

    # -- probing ------------------------------------------------------------------------------------
    def refresh(self, events: bool = True) -> None:
        """Look at the store once: drop records if any resource changed, catch up with new events
        (``events=False``: records only, for a user of this cache that never reads histories)."""
        version, seq, erased = self.store.probe()
        if version != self._version:
            with self._lock:
                self._records = {}
                self._lists = {}
                self._version = version
        if not events:
            return
        if erased != self._erased:  # a data deletion job removed events: forget every history
            with self._lock:
                self._events = _EventState(seq=seq, epoch=self._events.epoch + 1)
                self._erased = erased
            return
        state = self._events
        if seq != state.seq or state.gaps:
            self._catch_up(seq)

    def _catch_up(self, newest: int) -> None:
        with self._lock:
            state = self._events
            if state.seq < 0 or newest < state.seq:  # first look (or a log that shrank): start afresh
                self._events = _EventState(seq=newest, epoch=state.epoch + 1)
                return
            if newest == state.seq and not state.gaps:
                return
            late = self._late_events(state)
            changed = self.store.events_since(state.seq, CATCH_UP_LIMIT)
            if len(changed) >= CATCH_UP_LIMIT:  # too far behind: forget every history
                self._events = _EventState(seq=newest, epoch=state.epoch + 1)
                return
            expected = state.seq + 1
            now = self._clock()
            for seq, *_ in changed:
                state.gaps.update(dict.fromkeys(range(expected, seq), now))
                expected = seq + 1
            while len(state.gaps) > MAX_GAPS:
                del state.gaps[min(state.gaps)]
            for seq, group, kind, user, session in late + changed:
                key = (group, kind)
                if key in state.kinds:
                    state.kinds[key] = max(state.kinds[key], seq)
                for who in (user, session):
                    if who is not None:
                        state.users.pop((group, who), None)
            state.seq = max(state.seq, expected - 1)
            state.epoch += 1

    def _late_events(self, state: _EventState) -> list[tuple[int, str, str, str | None, str | None]]:
        """Events whose seq was missing before and has committed since; expired gaps are given up."""
        now = self._clock()
        for seq in [s for s, first in state.gaps.items() if now - first > GAP_SECONDS]:
            del state.gaps[seq]
        if not state.gaps:
            return []
        found = self.store.events_since(0, len(state.gaps), seqs=sorted(state.gaps))
        for event in found:
            state.gaps.pop(event[0], None)
        return found

    # -- resources ----------------------------------------------------------------------------------
    def get(self, arn: str, kind: str | None = None) -> Record | None:
        """``store.get`` as of the last :meth:`refresh` (the caller must not change the record); read
        through, uncached, until the first refresh."""
        caller = current_caller()  # records are cached once for all accounts, and shown only to their own
        if caller is not None and not caller.may_read(arn):
            return None
        key = (arn, kind)
        if key in self._records:
            return self._records[key]
        version = self._version
        if version < 0:
            return self.store.get(arn, kind)
        record = self.store.get(arn, kind)
        with self._lock:
            if version == self._version:
                self._records[key] = record
        return record

    def list(self, kind: str, parent_arn: str | None = None) -> list[Record]:
        """``store.list`` as of the last :meth:`refresh` (per calling account)."""
        caller = current_caller()
        key = (kind, parent_arn, caller.arn_prefix if caller is not None else None)
        cached = self._lists.get(key)
        if cached is not None:
            return cached
        version = self._version
        if version < 0:
            return self.store.list(kind, parent_arn)
        records = self.store.list(kind, parent_arn)
        with self._lock:
            if version == self._version:
                self._lists[key] = records
        return records

    @property
    def version(self) -> int:
        """The resources version seen by the last :meth:`refresh`."""
        return self._version

    # -- events -------------------------------------------------------------------------------------
    def last_event_seq(self, dataset_group_arn: str, kind: str) -> int:
        """The newest seq of ``kind`` in the group, as of the last :meth:`refresh`."""
        if not _owned(dataset_group_arn):
            return 0
        state = self._events
        known = state.kinds.get((dataset_group_arn, kind))
        if known is not None:
            return known
        epoch = state.epoch
        seq = self.store.last_event_seq(dataset_group_arn, kind)
        with self._lock:
            if self._events is state and state.epoch == epoch and state.seq >= 0:
                state.kinds[(dataset_group_arn, kind)] = seq
        return seq

    def user_events(self, dataset_group_arn: str, user_id: str) -> builtins.list[Event]:
        """The user's logged interactions (``store.user_events``), current as of the last refresh."""
        if not _owned(dataset_group_arn):
            return []
        state = self._events
        key = (dataset_group_arn, user_id)
        cached = state.users.get(key)
        if cached is not None:
            return cached
        epoch = state.epoch
        events = self.store.user_events(dataset_group_arn, user_id)
        with self._lock:
            # nothing was dropped meanwhile, so nothing newer than this read was missed
            if self._events is state and state.epoch == epoch and state.seq >= 0:
                if len(state.users) >= MAX_CACHED_USERS:
                    state.users.clear()
                state.users[key] = events
        return events
