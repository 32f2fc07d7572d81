"""How the console shows items and a user's history: titles and tags from the catalog's metadata rows.

Everything here reads what serving already holds in memory (the campaign's model and the group's catalog,
both cached by the :class:`~pertinent.serving.recommend.Recommender`) plus the user's rows of the event log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pertinent.datasets.avro_schema import DatasetSchema
from pertinent.serving.campaigns import LoadedCampaign
from pertinent.serving.group_data import Catalog
from pertinent.store import MetadataStore

#: columns that name an item, most telling first (Personalize's item datasets have no fixed title column)
TITLE_COLUMNS = ("TITLE", "NAME", "ITEM_NAME", "PRODUCT_NAME", "PRODUCT_TITLE")
#: columns whose values label an item; multiple values are separated by "|" as in Personalize
TAG_COLUMNS = ("GENRES", "GENRE", "CATEGORY", "CATEGORIES", "CATEGORY_L1", "CATEGORY_L2", "TAGS")
MAX_TAGS = 6


@dataclass(frozen=True)
class ItemView:
    """What the console shows of one item."""

    item_id: str
    title: str | None
    tags: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "title": self.title, "tags": list(self.tags)}


def _pick(candidates: Sequence[str], available: Sequence[str]) -> str | None:
    upper = {name.upper(): name for name in available}
    return next((upper[c] for c in candidates if c in upper), None)


class ItemLabeler:
    """Titles and tags of a group's items, read from its catalog rows."""

    def __init__(self, catalog: Catalog, items_schema: DatasetSchema | None) -> None:
        self.catalog = catalog
        fields = items_schema.fields if items_schema is not None else ()
        names = [f.name for f in fields if f.name != "ITEM_ID"]
        self.title_column = _pick(TITLE_COLUMNS, names) or next((f.name for f in fields if f.textual), None)
        self.tag_column = _pick(TAG_COLUMNS, names) or next((f.name for f in fields if f.categorical), None)

    def view(self, item_id: str) -> ItemView:
        index = self.catalog.index.get(item_id)
        row: dict[str, Any] = self.catalog.rows[index] if index is not None else {}
        title = row.get(self.title_column) if self.title_column else None
        tags: tuple[str, ...] = ()
        raw = row.get(self.tag_column) if self.tag_column else None
        if raw is not None and str(raw).strip():
            tags = tuple(dict.fromkeys(t.strip() for t in str(raw).split("|") if t.strip()))[:MAX_TAGS]
        return ItemView(item_id, None if title is None or title == "" else str(title), tags)


@dataclass(frozen=True)
class HistoryEntry:
    """One interaction of a user: from the event log (with its time and type) or the training data."""

    item: ItemView
    source: str  # "event" | "training"
    event_type: str | None = None
    timestamp: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            **self.item.as_json(),
            "source": self.source,
            "event_type": self.event_type,
            "timestamp": self.timestamp,
        }


def recent_history(
    store: MetadataStore, loaded: LoadedCampaign, labeler: ItemLabeler, user_id: str, limit: int = 20
) -> tuple[list[HistoryEntry], int]:
    """The user's newest ``limit`` interactions as the campaign sees them, newest first, and their count.

    That is the model's training history plus the events logged after its training watermark, exactly the
    history :meth:`Recommender.history` scores.
    """
    logged = store.user_events(loaded.dataset_group_arn, user_id, after_seq=loaded.event_watermark)
    trained, _ = loaded.model.user_history(user_id)
    total = len(logged) + len(trained)
    entries = [
        HistoryEntry(labeler.view(str(e["item_id"])), "event", e["event_type"], float(e["timestamp"]))
        for e in reversed(logged[-limit:])
        if e["item_id"] is not None
    ]
    if len(entries) < limit:
        item_ids = loaded.model.item_ids
        newest = trained[::-1][: limit - len(entries)]
        entries += [HistoryEntry(labeler.view(str(item_ids[i])), "training") for i in newest.tolist()]
    return entries, total
