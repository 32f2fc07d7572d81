"""PutEvents, PutItems, PutUsers: validate, then commit to the event log before answering.

Nothing is stored from a rejected request: rows are validated as a whole first, then written in one
transaction. An anonymous session's earlier events are attributed to the user once an event names both.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

from pertinent.control.context import Context
from pertinent.datasets.avro_schema import DatasetSchema, normalize_dataset_type, parse_schema
from pertinent.errors import InvalidInputException, ResourceInUseException, ResourceNotFoundException
from pertinent.events import records
from pertinent.resources.status import ACTIVE
from pertinent.store.cached_reads import CachedReads


class EventIngest:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # records (trackers, datasets, schemas) from memory until a resource changes: one probe a request
        self.reads = CachedReads(ctx.store)
        self._trackers: dict[str, tuple[str, str]] = {}  # tracking id → (tracker ARN, dataset group ARN)
        self._schemas: dict[str, tuple[str, DatasetSchema]] = {}  # schema ARN → (its text, parsed)
        self._lock = threading.Lock()

    def _group_of_tracker(self, tracking_id: str) -> str:
        self.reads.refresh(events=False)  # trackers, datasets, schemas: no histories
        cached = self._trackers.get(tracking_id)
        if cached is not None and self.reads.get(cached[0], "event-tracker") is not None:
            return cached[1]
        for tracker in self.reads.list("event-tracker"):
            if tracker.get("tracking_id") == tracking_id:
                with self._lock:
                    self._trackers[tracking_id] = (tracker["event_tracker_arn"], tracker["dataset_group_arn"])
                return str(tracker["dataset_group_arn"])
        # PutEvents declares only InvalidInputException in Personalize's model
        raise InvalidInputException(f"No event tracker has the tracking ID {tracking_id}.")

    def _schema(self, dataset: dict[str, Any]) -> DatasetSchema:
        schema = self.reads.get(dataset["schema_arn"], "schema")
        assert schema is not None
        cached = self._schemas.get(dataset["schema_arn"])
        if cached is None or cached[0] != schema["schema"]:
            cached = (schema["schema"], parse_schema(schema["schema"]))
            self._schemas[dataset["schema_arn"]] = cached
        return cached[1]

    def _dataset_schema(self, dataset_group_arn: str, dataset_type: str) -> DatasetSchema | None:
        for dataset in self.reads.list("dataset", dataset_group_arn):
            if normalize_dataset_type(dataset["dataset_type"]) == dataset_type:
                return self._schema(dataset)
        return None

    def put_events(
        self, tracking_id: str, session_id: str, event_list: list[dict[str, Any]], user_id: str | None = None
    ) -> dict[str, Any]:
        return self.put_events_later(tracking_id, session_id, event_list, user_id).result()

    def put_events_later(
        self, tracking_id: str, session_id: str, event_list: list[dict[str, Any]], user_id: str | None = None
    ) -> Future[dict[str, Any]]:
        """PutEvents validated now (errors raised here); the future answers once the events are durable
        (the REST endpoint awaits it on the event loop instead of holding a thread per request)."""
        group = self._group_of_tracker(tracking_id)
        schema = self._dataset_schema(group, "INTERACTIONS")
        rows = records.interaction_rows(group, schema, user_id, session_id, self._implicit(event_list, schema))
        merge = [(group, session_id, user_id)] if user_id else []
        committed = self.ctx.store.append_events_later([r.as_dict() for r in rows], merge)
        answer: Future[dict[str, Any]] = Future()

        def done(future: Future[None]) -> None:
            error = future.exception()
            if error is not None:
                answer.set_exception(error)
                return
            self.ctx.telemetry.events_ingested.labels("interaction").inc(len(rows))
            answer.set_result({})

        committed.add_done_callback(done)
        return answer

    def _implicit(self, event_list: Any, schema: DatasetSchema | None) -> Any:
        """Events with a ``recommendationId`` and no ``impression``: the items that recommendation showed
        become the impression list (Personalize's implicit impressions), when this process served it and
        the Interactions schema has an IMPRESSION field to record them in."""
        if not isinstance(event_list, list) or schema is None or schema.get("IMPRESSION") is None:
            return event_list  # records reports any error
        out = []
        for event in event_list:
            rid = event.get("recommendation_id") if isinstance(event, dict) else None
            if isinstance(rid, str) and not event.get("impression"):
                shown = self.ctx.served.items_of(rid)
                if shown:
                    event = {**event, "impression": list(shown)}
            out.append(event)
        return out

    def _target_dataset(self, dataset_arn: str, dataset_type: str) -> tuple[dict[str, Any], DatasetSchema]:
        self.reads.refresh(events=False)  # trackers, datasets, schemas: no histories
        dataset = self.reads.get(dataset_arn, "dataset")
        if dataset is None:
            raise ResourceNotFoundException(f"Could not find dataset with ARN {dataset_arn}.")
        if normalize_dataset_type(dataset["dataset_type"]) != dataset_type:
            raise InvalidInputException(
                f"Dataset {dataset_arn} is a {dataset['dataset_type']} dataset, not {dataset_type.title()}."
            )
        if dataset.get("status") != ACTIVE:
            raise ResourceInUseException(f"Dataset {dataset_arn} is {dataset.get('status')}, not ACTIVE.")
        return dataset, self._schema(dataset)

    def put_items(self, dataset_arn: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        dataset, schema = self._target_dataset(dataset_arn, "ITEMS")
        rows = records.item_rows(dataset["dataset_group_arn"], schema, items, self.ctx.now())
        self.ctx.store.append_events([r.as_dict() for r in rows])
        self.ctx.telemetry.events_ingested.labels("item").inc(len(rows))
        return {}

    def put_users(self, dataset_arn: str, users: list[dict[str, Any]]) -> dict[str, Any]:
        dataset, schema = self._target_dataset(dataset_arn, "USERS")
        rows = records.user_rows(dataset["dataset_group_arn"], schema, users, self.ctx.now())
        self.ctx.store.append_events([r.as_dict() for r in rows])
        self.ctx.telemetry.events_ingested.labels("user").inc(len(rows))
        return {}

    def put_actions(self, dataset_arn: str, actions: list[dict[str, Any]]) -> dict[str, Any]:
        dataset, schema = self._target_dataset(dataset_arn, "ACTIONS")
        rows = records.action_rows(dataset["dataset_group_arn"], schema, actions, self.ctx.now())
        self.ctx.store.append_events([r.as_dict() for r in rows])
        self.ctx.telemetry.events_ingested.labels("action").inc(len(rows))
        return {}

    def put_action_interactions(
        self, tracking_id: str, action_interactions: list[dict[str, Any]]
    ) -> dict[str, Any]:
        group = self._group_of_tracker(tracking_id)
        schema = self._dataset_schema(group, "ACTION_INTERACTIONS")
        if schema is None:
            raise InvalidInputException(
                "The dataset group has no Action interactions dataset, so PutActionInteractions has nowhere to "
                "record them; create one first (datasetType ACTION_INTERACTIONS)."
            )
        rows = records.action_interaction_rows(group, schema, action_interactions)
        self.ctx.store.append_events([r.as_dict() for r in rows])
        self.ctx.telemetry.events_ingested.labels("action_interaction").inc(len(rows))
        return {}
