"""Batch segment jobs: for each item (aws-item-affinity) or item-attribute query (aws-item-attribute-affinity)
the users most likely to interact, as JSON Lines.

Input and output lines as Personalize writes them
(https://docs.aws.amazon.com/personalize/latest/dg/batch-segment-job-output-examples.html)::

    {"itemId": "105"}
        → {"input":{"itemId":"105"},"output":{"recommendedUsers":["106","107","49"]},"error":null}
    {"itemAttributes": "ITEMS.genres = \\"Comedy\\" AND ITEMS.genres = \\"Action\\""}
        → {"itemAttributes":"ITEMS.genres = \\"Comedy\\" AND …","output":{"recommendedUsers":[…]},"error":null}

Every user the model knows is scored from their whole history (training data plus events logged since),
with one vectorized pass over all users for all the file's queries. A segment for an item leaves out the
users who already interacted with it; a UserID filter (``filterArn``, values per line in ``filterValues``)
restricts the users. A line that cannot be answered gets its own ``error``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pertinent.control.context import Context
from pertinent.errors import InvalidInputException, PersonalizeError, ResourceNotFoundException
from pertinent.filters.evaluate import UserFilterContext, UserTable, compile_user_filter
from pertinent.filters.parser import parse_filter
from pertinent.filters.values import parse_filter_values
from pertinent.recipes.item_affinity import user_affinities
from pertinent.recipes.user_personalization import UserPersonalization
from pertinent.serving.campaigns import LoadedCampaign
from pertinent.serving.group_data import Catalog
from pertinent.serving.recommend import Recommender

#: queries per input file, as Personalize limits them
MAX_ITEM_QUERIES = 500
MAX_ATTRIBUTE_QUERIES = 10
_CONDITION = re.compile(r'^\s*ITEMS\.([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE)
_AND = re.compile(r"\s+AND\s+", re.IGNORECASE)


@dataclass
class _Line:
    number: int
    input: Any
    error: str | None = None
    users: list[str] | None = None
    column: int = -1
    filter_values: dict[str, str] | None = None


def parse_attribute_query(expression: str, catalog: Catalog) -> list[int]:
    """Catalog indices of the model items matching every ``ITEMS.FIELD = "value"`` condition."""
    fields = {name.upper(): name for name in catalog.metadata_fields}
    conditions: list[tuple[str, str]] = []
    for part in _AND.split(expression.strip()):
        match = _CONDITION.match(part)
        if match is None:
            raise InvalidInputException(
                f'itemAttributes must be conditions ITEMS.FIELD = "value" joined by AND, not {part.strip()!r}.'
            )
        name = fields.get(match.group(1).upper())
        if name is None:
            raise InvalidInputException(f"The Items dataset has no column {match.group(1)!r}.")
        if name in catalog.textual_fields:
            raise InvalidInputException(f"{name} is a textual column; item attributes must be non-textual.")
        conditions.append((name, match.group(2).replace('\\"', '"')))
    matched = []
    for index in range(catalog.n_model_items):
        row = catalog.rows[index]
        if all(value in _values(row.get(name)) for name, value in conditions):
            matched.append(index)
    return matched


def _values(raw: Any) -> set[str]:
    if raw is None:
        return set()
    if isinstance(raw, float) and raw.is_integer():
        return {str(raw), str(int(raw))}
    return set(str(raw).split("|"))


class BatchSegments:
    """Answers the lines of a batch segment job's input files over one USER_SEGMENTATION version."""

    def __init__(
        self,
        ctx: Context,
        recommender: Recommender,
        loaded: LoadedCampaign,
        num_results: int,
        filter_arn: str | None,
    ) -> None:
        self.ctx = ctx
        self.recommender = recommender
        self.loaded = loaded
        self.n = num_results
        self.filter_arn = filter_arn
        self.attributes = loaded.recipe_name == "aws-item-attribute-affinity"
        recipe = loaded.model.recipe
        if not isinstance(recipe, UserPersonalization):
            raise InvalidInputException(f"{loaded.recipe_name} cannot make user segments.")
        self.recipe = recipe
        self.user_filter = None
        if filter_arn:
            record = ctx.store.get(filter_arn, "filter")
            if record is None:
                raise ResourceNotFoundException(f"Could not find filter with ARN {filter_arn}.")
            self.user_filter = compile_user_filter(parse_filter(record["filter_expression"]))

    def run(self, text: str, progress: Any = None) -> Iterator[str]:
        lines = [self._parse(n, t) for n, t in enumerate(text.splitlines(), start=1) if t.strip()]
        limit = MAX_ATTRIBUTE_QUERIES if self.attributes else MAX_ITEM_QUERIES
        valid = [line for line in lines if line.error is None]
        for line in valid[limit:]:
            line.error = f"An input file may hold at most {limit} queries for {self.loaded.recipe_name}."
        self._answer(valid[:limit])
        if progress is not None:
            progress(len(lines), len(lines))
        for line in lines:
            yield self._dump(line)

    def _parse(self, number: int, text: str) -> _Line:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            return _Line(number, text.strip(), error=f"Line {number} is not valid JSON: {exc.msg}.")
        key = "itemAttributes" if self.attributes else "itemId"
        if not isinstance(value, dict) or key not in value or set(value) - {key, "filterValues"}:
            return _Line(
                number, value, error=f'Line {number}: {self.loaded.recipe_name} takes {{"{key}": …}}.'
            )
        if not isinstance(value[key], str) or not value[key]:
            return _Line(number, value, error=f'Line {number}: "{key}" must be a non-empty string.')
        values = value.get("filterValues")
        if values is not None and (
            not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values())
        ):
            return _Line(number, value, error=f'Line {number}: "filterValues" must be an object of strings.')
        return _Line(number, value, filter_values=values)

    def _dump(self, line: _Line) -> str:
        output = None if line.users is None else {"recommendedUsers": line.users}
        if self.attributes and isinstance(line.input, dict) and "itemAttributes" in line.input:
            body: dict[str, Any] = {"itemAttributes": line.input["itemAttributes"]}
        else:
            body = {"input": line.input}
        body.update({"output": output, "error": line.error})
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False)

    def _answer(self, lines: list[_Line]) -> None:
        if not lines:
            return
        loaded, model = self.loaded, self.loaded.model
        catalog = self.recommender.data.catalog(loaded.dataset_group_arn, loaded.version_arn, model.item_ids)
        columns: list[np.ndarray[Any, np.dtype[np.float32]]] = []
        items_of: list[list[int]] = []
        for line in lines:
            try:
                if self.attributes:
                    matched = parse_attribute_query(line.input["itemAttributes"], catalog)
                    if not matched:
                        raise InvalidInputException("No item matches these item attributes.")
                else:
                    item = model.item_index.get(line.input["itemId"])
                    if item is None:
                        raise InvalidInputException(
                            f"Item {line.input['itemId']} is not in the training data."
                        )
                    matched = [item]
            except PersonalizeError as exc:
                line.error = exc.message
                continue
            column = np.zeros(self.recipe.n_items_, dtype=np.float32)
            column[matched] = 1.0 / len(matched)
            line.column = len(columns)
            columns.append(column)
            items_of.append(matched)
        if not columns:
            return
        users = [str(u) for u in model.user_ids.tolist()]
        histories, weights, logged = self._histories(users, catalog)
        affinity = user_affinities(self.recipe, histories, weights, np.stack(columns, axis=1))
        table = self._user_table(users, logged) if self.user_filter is not None else None
        owners = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
        owned = np.concatenate(histories) if histories else np.zeros(0, dtype=np.int64)
        for line in lines:
            if line.error is not None:
                continue
            scores = affinity[:, line.column].copy()
            if not self.attributes:
                item = items_of[line.column][0]
                scores[owners[owned == item]] = -np.inf  # users who already interacted with it
            if table is not None and self.user_filter is not None:
                try:
                    values = parse_filter_values(line.filter_values, self.user_filter.chain)
                    mask = np.asarray(self.user_filter(UserFilterContext(table, values)), dtype=bool)
                except PersonalizeError as exc:
                    line.error = exc.message
                    continue
                scores[~mask] = -np.inf
            finite = np.flatnonzero(np.isfinite(scores))
            order = finite[np.lexsort((finite, -scores[finite]))][: self.n]
            line.users = [users[u] for u in order.tolist()]

    def _histories(
        self, users: list[str], catalog: Catalog
    ) -> tuple[list[Any], list[Any], dict[str, list[dict[str, Any]]]]:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for event in self.ctx.store.events_of_kind(self.loaded.dataset_group_arn, "interaction"):
            owner = event["user_id"] or event["session_id"]
            if owner:
                grouped.setdefault(owner, []).append(event)
        histories, weights = [], []
        for user in users:
            history = self.recommender.history(self.loaded, catalog, user, grouped.get(user, []))
            histories.append(history.items)
            weights.append(history.weights)
        return histories, weights, grouped

    def _user_table(self, users: list[str], logged: Mapping[str, list[dict[str, Any]]]) -> UserTable:
        group = self.loaded.dataset_group_arn
        attributes = self.recommender.data.users(group)
        interactions = self.recommender.data.user_interactions(group)
        rows, event_types = [], []
        for user in users:
            rows.append({k: v for k, v in (attributes.get(user) or {}).items() if k != "USER_ID"})
            types = set(interactions.of(user)[1].tolist())
            types.update((e["event_type"] or "").lower() for e in logged.get(user, []))
            event_types.append(types)
        numeric = {
            k
            for row in rows
            for k, v in row.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        return UserTable.from_rows(users, rows, numeric_fields=numeric, event_types=event_types)
