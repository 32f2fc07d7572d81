"""Batch inference: JSON Lines of requests in, JSON Lines of answers out, over one solution version.

Each input line is answered exactly as GetRecommendations (or GetPersonalizedRanking) would answer it
from a campaign on the same version with the job's ``itemExplorationConfig``: the same histories (training
data plus the event log), filters, exploration and scores, through the same :class:`Recommender` code.
Users of USER_PERSONALIZATION recipes are scored in chunks of :data:`CHUNK` with one vectorized call;
the group's event log is read once per job, not once per user. A line that cannot be answered gets its
own ``error`` and the job goes on.

Line shapes (https://docs.aws.amazon.com/personalize/latest/dg/batch-data-upload.html)::

    USER_PERSONALIZATION, POPULAR_ITEMS  {"userId": "4638"}
    RELATED_ITEMS                        {"itemId": "105"}
    PERSONALIZED_RANKING                 {"userId": "891", "itemList": ["27", "886", "101"]}

each optionally with ``"filterValues": {"GENRES": "\\"horror\\",\\"comedy\\""}``. Output lines
(https://docs.aws.amazon.com/personalize/latest/dg/batch-inference-job-output-examples.html)::

    {"input":{"userId":"4638"},"output":{"recommendedItems":[...],"scores":[...]},"error":null}
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pertinent.control.context import Context
from pertinent.errors import InvalidInputException, PersonalizeError, ResourceNotFoundException
from pertinent.serving.campaigns import LoadedCampaign
from pertinent.serving.recommend import (
    MAX_INPUT_LIST,
    SCORELESS,
    History,
    Recommender,
    _float_setting,
)

CHUNK = 256
Record = dict[str, Any]
#: progress(lines done in this file, lines in this file)
Progress = Callable[[int, int], None]


def check_exploration_config(config: Mapping[str, str] | None) -> None:
    """Refuse ``itemExplorationConfig`` values GetRecommendations would refuse (at job creation)."""
    config = config or {}
    unknown = sorted(set(config) - {"explorationWeight", "explorationItemAgeCutOff"})
    if unknown:
        raise InvalidInputException(
            f"itemExplorationConfig takes explorationWeight and explorationItemAgeCutOff, not {unknown[0]!r}."
        )
    _float_setting(config, "explorationWeight", 0.3, 0.0, 1.0)
    _float_setting(config, "explorationItemAgeCutOff", 30.0, 0.0, None)


@dataclass
class _Line:
    number: int
    input: Any  # the parsed JSON object, or the raw text when it is not JSON
    error: str | None = None
    output: Record | None = None


def _dump(line: _Line) -> str:
    return json.dumps(
        {"input": line.input, "output": line.output, "error": line.error},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInputException(f'"{name}" must be a non-empty string.')
    if len(value) > 256:
        raise InvalidInputException(f'"{name}" must be at most 256 characters.')
    return value


def _filter_values(record: Mapping[str, Any]) -> dict[str, str] | None:
    values = record.get("filterValues")
    if values is None:
        return None
    if not isinstance(values, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in values.items()
    ):
        raise InvalidInputException('"filterValues" must be an object of strings.')
    return dict(values)


class BatchInference:
    """Answers the lines of a batch inference job's input files over one loaded solution version."""

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
        self._events: dict[str, list[dict[str, Any]]] | None = None
        self._ids: tuple[Any, list[str]] | None = None  # (catalog, its item ids as str)

    # -- the group's event log, read once -----------------------------------------------------------
    def events_by_user(self) -> dict[str, list[dict[str, Any]]]:
        """Every logged interaction of the group by user (an anonymous one under its session id), oldest
        first: what ``user_events`` returns for each user, in one read."""
        if self._events is None:
            grouped: dict[str, list[dict[str, Any]]] = {}
            for event in self.ctx.store.events_of_kind(self.loaded.dataset_group_arn, "interaction"):
                owner = event["user_id"] or event["session_id"]
                if owner:
                    grouped.setdefault(owner, []).append(event)
            self._events = grouped
        return self._events

    # -- one file ------------------------------------------------------------------------------------
    def run(self, text: str, progress: Progress | None = None) -> Iterator[str]:
        """Output lines for the input file ``text`` (blank lines skipped), in input order."""
        raw_lines = [(n, t) for n, t in enumerate(text.splitlines(), start=1) if t.strip()]
        total = len(raw_lines)
        for start in range(0, total, CHUNK):
            chunk = [self._parse(n, t) for n, t in raw_lines[start : start + CHUNK]]
            self._answer_chunk([line for line in chunk if line.error is None])
            for line in chunk:
                yield _dump(line)
            if progress is not None:
                progress(min(start + CHUNK, total), total)

    def _parse(self, number: int, text: str) -> _Line:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            return _Line(number, text.strip(), error=f"Line {number} is not valid JSON: {exc.msg}.")
        if not isinstance(value, dict):
            return _Line(number, value, error=f"Line {number} must be a JSON object.")
        expected = {
            "RELATED_ITEMS": ("itemId",),
            "PERSONALIZED_RANKING": ("userId", "itemList"),
        }.get(self.loaded.recipe_type, ("userId",))
        missing = [key for key in expected if key not in value]
        extra = sorted(set(value) - set(expected) - {"filterValues"})
        if missing or extra:
            shape = ", ".join(f'"{key}"' for key in expected)
            return _Line(
                number,
                value,
                error=f"Line {number}: {self.loaded.recipe_name} takes {shape} (and optional "
                f'"filterValues"), not {sorted(value)}.',
            )
        return _Line(number, value)

    def _answer_chunk(self, lines: Sequence[_Line]) -> None:
        if self.loaded.recipe_type == "RELATED_ITEMS":
            for line in lines:
                self._one(line, self._related)
        elif self.loaded.recipe_type == "PERSONALIZED_RANKING":
            for line in lines:
                self._one(line, self._ranking)
        else:
            self._users(lines)

    @staticmethod
    def _one(line: _Line, answer: Callable[[Record], Record]) -> None:
        try:
            line.output = answer(line.input)
        except (PersonalizeError, ResourceNotFoundException) as exc:
            line.error = exc.message

    def _related(self, record: Record) -> Record:
        answer = self.recommender.recommend_loaded(
            self.loaded,
            "this batch inference job",
            item_id=_text(record["itemId"], "itemId"),
            user_id=None,
            n=self.n,
            filter_arn=self.filter_arn,
            filter_values=_filter_values(record),
        )
        return self._output(answer["item_list"])

    def _ranking(self, record: Record) -> Record:
        items = record["itemList"]
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise InvalidInputException('"itemList" must be a list of item id strings.')
        if not items or len(items) > MAX_INPUT_LIST:
            raise InvalidInputException(f'"itemList" must hold 1 to {MAX_INPUT_LIST} item ids.')
        answer = self.recommender.rank_loaded(
            self.loaded,
            items,
            _text(record["userId"], "userId"),
            self.filter_arn,
            _filter_values(record),
        )
        return self._output(answer["personalized_ranking"])

    def _users(self, lines: Sequence[_Line]) -> None:
        """USER_PERSONALIZATION / POPULAR_ITEMS lines: one vectorized scoring call for the chunk."""
        loaded, recommender = self.loaded, self.recommender
        catalog = recommender.data.catalog(
            loaded.dataset_group_arn, loaded.version_arn, loaded.model.item_ids
        )
        events = self.events_by_user()
        ready: list[_Line] = []
        histories: list[History] = []
        masks: list[np.ndarray[Any, np.dtype[np.bool_]]] = []
        excluded: list[np.ndarray[Any, np.dtype[np.int64]]] = []
        for line in lines:
            try:
                user_id = _text(line.input["userId"], "userId")
                history = recommender.history(loaded, catalog, user_id, events.get(user_id, []))
                mask = recommender.filter_mask(
                    loaded, catalog, self.filter_arn, _filter_values(line.input), user_id, None, history
                )
            except PersonalizeError as exc:
                line.error = exc.message
                continue
            ready.append(line)
            histories.append(history)
            masks.append(mask)
            excluded.append(np.flatnonzero(~mask[: catalog.n_model_items]))
        if not ready:
            return
        results = recommender.user_results(loaded, catalog, histories, masks, excluded, self.n)
        if self._ids is None or self._ids[0] is not catalog:
            self._ids = (catalog, [str(i) for i in catalog.item_ids.tolist()])
        ids = self._ids[1]
        scored = loaded.recipe_name not in SCORELESS
        for line, result in zip(ready, results, strict=True):
            # what Recommender.answer and _output make of the results, without a recommendation id
            output: Record = {"recommendedItems": [ids[index] for index, _, _ in result]}
            if scored:
                output["scores"] = [
                    round(float(score), 7) if score is not None and math.isfinite(score) else None
                    for _, score, _ in result
                ]
            line.output = output

    def _output(self, items: Sequence[Record]) -> Record:
        """``recommendedItems`` (and ``scores`` for the recipes GetRecommendations scores)."""
        output: Record = {"recommendedItems": [item["item_id"] for item in items]}
        if self.loaded.recipe_name not in SCORELESS:
            output["scores"] = [item.get("score") for item in items]
        return output
