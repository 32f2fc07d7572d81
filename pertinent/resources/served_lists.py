"""What each recommendation showed, by ``recommendationId``, for implicit impressions.

Personalize: a PutEvents event with a ``recommendationId`` and no ``impression`` list counts the items of
that recommendation as its impressions
(https://docs.aws.amazon.com/personalize/latest/dg/putevents-including-impressions-data.html). The process keeps the
newest ``capacity`` answers (least recently served dropped first); an ID it no longer holds, or one served by
another process, yields no impressions (the event is stored as sent).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

__all__ = ["ServedLists"]


class ServedLists:
    """A bounded, thread-safe map of recommendation ID → the item IDs it answered, in order.

    Examples
    --------
    >>> served = ServedLists(capacity=2)
    >>> served.remember("a", ["i1", "i2"]); served.remember("b", ["i3"]); served.remember("c", ["i4"])
    >>> served.items_of("a"), served.items_of("c")
    (None, ('i4',))
    """

    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._lists: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, recommendation_id: str, item_ids: Sequence[str]) -> None:
        with self._lock:
            self._lists[recommendation_id] = tuple(item_ids)
            self._lists.move_to_end(recommendation_id)
            while len(self._lists) > self.capacity:
                self._lists.popitem(last=False)

    def items_of(self, recommendation_id: str) -> tuple[str, ...] | None:
        with self._lock:
            return self._lists.get(recommendation_id)

    def __len__(self) -> int:
        return len(self._lists)
