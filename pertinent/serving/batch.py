"""Batch inference: JSON Lines of requests in, JSON Lines of answers out, over one solution version.

Each input line is answered exactly as GetRecommendations (or GetPersonalizedRanking) would answer it
from a campaign on the same version with the job's ``itemExplorationConfig``: the same histories (training
data plus the event log), filters, exploration and scores. Users of USER_PERSONALIZATION and POPULAR_ITEMS
recipes are answered a block at a time (:func:`block_size` users, sized so that the block's score matrix
stays near 8M entries) with no per-user numpy work:

* the block's histories are gathered from the model's CSR of training histories in one indexing step (only
  users with events logged since training take :meth:`Recommender.history`);
* one sparse × dense product scores the block (EASE: ``X·B``, column-major so that each row of ``B`` is
  read once per block; iALS: one fold-in and one ``U·Vᵀ``), :meth:`Recipe.score_rows`;
* filters become one block mask: a filter that reads neither the user nor the current item is compiled
  into one mask per distinct ``filterValues``; per-user filters (``Interactions``, ``IF CurrentUser``) are
  evaluated per user, as GetRecommendations does;
* the top ``numResults`` of the whole block come from one ``argpartition`` and one ``lexsort``
  (:meth:`Recipe.top_n_rows`), softmax scores from one exponential per block (:meth:`Recipe.scores_at`);
* output lines are written from the item ids JSON-encoded once per catalog.

The group's event log is read once per job, not once per user. A line that cannot be answered gets its
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
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pertinent.control.context import Context
from pertinent.errors import InvalidInputException, PersonalizeError, ResourceNotFoundException
from pertinent.filters.evaluate import FilterContext
from pertinent.filters.values import parse_filter_values
from pertinent.recipes.v2.two_stage import TwoStageRecipe
from pertinent.serving.campaigns import LoadedCampaign
from pertinent.serving.exploration import cached_cold_candidates
from pertinent.serving.group_data import Catalog
from pertinent.serving.recommend import (
    MAX_INPUT_LIST,
    SCORELESS,
    History,
    Recommender,
    _float_setting,
)

#: lines parsed and answered together (other recipe types), and the least a user block holds
CHUNK = 256
#: score-matrix entries (users × items) a user block aims at: big enough that numpy's per-call cost
#: vanishes, small enough to stay in memory (8M float32 = 32 MB, plus the softmax's float64 rows)
BLOCK_ENTRIES = 8_000_000
MAX_BLOCK = 4096
#: threads answering user blocks of one job
THREADS = 2
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
    text: str | None = None  # the finished output line, when written directly (user blocks)


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def block_size(n_items: int) -> int:
    """Users per block for a model of ``n_items`` items."""
    return max(CHUNK, min(MAX_BLOCK, BLOCK_ENTRIES // max(n_items, 1)))


def _dump(line: _Line) -> str:
    if line.text is not None:
        return line.text
    return _ENCODER.encode({"input": line.input, "output": line.output, "error": line.error})


def _input_json(value: Any) -> str:
    if len(value) == 1 and isinstance(value.get("userId"), str):  # the common line, without the encoder
        return '{"userId":' + _ENCODER.encode(value["userId"]) + "}"
    return _ENCODER.encode(value)


def _score_json(score: float) -> str:
    """A score as GetRecommendations writes it: rounded to 7 places, ``null`` when not finite."""
    return repr(round(score, 7)) if math.isfinite(score) else "null"


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
        self._ids: tuple[Any, list[str]] | None = None  # (catalog, its item ids JSON-encoded)
        self._shared_masks: dict[tuple[tuple[str, str], ...], npt.NDArray[np.bool_]] = {}
        self._done = 0  # lines of the current file handed out (threaded runs)

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
        """Output lines for the input file ``text`` (blank lines skipped), in input order; ``progress``
        is called as each block is done.

        User blocks are answered by :data:`THREADS` threads (numpy and scipy release the GIL while they
        score and rank a block); the blocks' lines come out in input order."""
        raw_lines = [(n, t) for n, t in enumerate(text.splitlines(), start=1) if t.strip()]
        total = len(raw_lines)
        self._done = 0
        size, threads = CHUNK, 1
        if self.loaded.recipe_type not in ("RELATED_ITEMS", "PERSONALIZED_RANKING"):
            size, threads = block_size(len(self.loaded.model.item_ids)), THREADS
            if total < size * threads:  # a small job: a block for each thread
                size = max(CHUNK, -(-total // threads))
            self.events_by_user()  # read once, before the threads share it
            self.recommender.data.catalog(
                self.loaded.dataset_group_arn, self.loaded.version_arn, self.loaded.model.item_ids
            )

        def answer(start: int) -> list[str]:
            chunk = [self._parse(n, t) for n, t in raw_lines[start : start + size]]
            self._answer_chunk([line for line in chunk if line.error is None])
            return [_dump(line) for line in chunk]

        starts = range(0, total, size)
        if threads == 1 or len(starts) == 1:
            blocks: Iterator[list[str]] = map(answer, starts)
            for start, lines in zip(starts, blocks, strict=True):
                yield from lines
                if progress is not None:
                    progress(min(start + size, total), total)
            return
        with ThreadPoolExecutor(threads, thread_name_prefix="pertinent-batch") as pool:
            pending: deque[Future[list[str]]] = deque()
            for start in starts:  # at most 2 blocks a thread in flight: bounded memory
                pending.append(pool.submit(answer, start))
                if len(pending) > 2 * threads:
                    yield from self._finish(pending.popleft(), progress, total, size)
            while pending:
                yield from self._finish(pending.popleft(), progress, total, size)

    def _finish(
        self, future: Future[list[str]], progress: Progress | None, total: int, size: int
    ) -> Iterator[str]:
        lines = future.result()
        self._done += len(lines)
        yield from lines
        if progress is not None:
            progress(min(self._done, total), total)

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
        """USER_PERSONALIZATION / POPULAR_ITEMS lines: one block, scored and ranked at once."""
        loaded, recommender = self.loaded, self.recommender
        catalog = recommender.data.catalog(
            loaded.dataset_group_arn, loaded.version_arn, loaded.model.item_ids
        )
        if isinstance(loaded.model.recipe, TwoStageRecipe):
            self._v2_users(lines, catalog)
            return
        events = self.events_by_user()
        block = _UserBlock(loaded, catalog)
        for line in lines:
            try:
                user_id = _text(line.input["userId"], "userId")
                logged = events.get(user_id, [])
                history = None
                if any(e["seq"] > loaded.event_watermark for e in logged):  # events since training
                    history = recommender.history(loaded, catalog, user_id, logged)
                mask = self._mask(catalog, block, user_id, _filter_values(line.input), logged, history)
            except PersonalizeError as exc:
                line.error = exc.message
                continue
            block.add(line, user_id, logged, history, mask)
        if block.lines:
            self._answer_block(block)

    def _mask(
        self,
        catalog: Catalog,
        block: _UserBlock,
        user_id: str,
        values: dict[str, str] | None,
        logged: list[dict[str, Any]],
        history: History | None,
    ) -> npt.NDArray[np.bool_] | None:
        """The line's filter mask over the catalog (None: no filter); a filter that depends only on
        ``filterValues`` is computed once per distinct value set."""
        if not self.filter_arn:
            if values:
                raise InvalidInputException("filterValues were given without a filterArn.")
            return None
        compiled = self.recommender.compiled_filter(self.filter_arn, self.loaded.dataset_group_arn)
        if not compiled.per_request:
            key = tuple(sorted((values or {}).items()))
            shared = self._shared_masks.get(key)
            if shared is None:
                parsed = parse_filter_values(values, compiled.chain)
                shared = np.asarray(compiled(FilterContext(items=catalog.table, values=parsed)), dtype=bool)
                self._shared_masks[key] = shared
            return shared
        if history is None:
            history = block.training_history(user_id, logged)
        return self.recommender.filter_mask(
            self.loaded, catalog, self.filter_arn, values, user_id, None, history
        )

    def _answer_block(self, block: _UserBlock) -> None:
        loaded, recipe = self.loaded, self.loaded.model.recipe
        catalog = block.catalog
        indptr, items, weights = block.histories()
        raw = recipe.score_rows(indptr, items, weights)
        masked = raw  # copied before any item is masked out: the softmax is over the raw scores
        n_model = catalog.n_model_items
        masks = block.masks
        first = masks[0]
        if any(m is not None for m in masks):
            masked = np.array(raw, dtype=np.float32)
            if first is not None and all(m is first for m in masks):  # one mask for every line
                masked[:, ~first[:n_model]] = -np.inf
            else:
                every = np.ones(n_model, dtype=bool)
                allowed = np.stack([every if m is None else m[:n_model] for m in masks])
                masked[~allowed] = -np.inf
        ids = recipe.top_n_rows(masked, self.n)
        scores = recipe.scores_at(raw, ids)
        del masked
        explore = self._explorer(catalog)
        item_json = self._item_json(catalog)
        scored = loaded.recipe_name not in SCORELESS
        every_item = np.ones(len(catalog.item_ids), dtype=bool)
        # rounded as GetRecommendations rounds (round(score, 7)): for float32 scores numpy's
        # multiply-rint-divide gives the same doubles as Python's correctly rounded round()
        rounded = np.round(scores.astype(np.float64), 7)
        finite = np.isfinite(rounded) | (ids < 0)
        for row, line in enumerate(block.lines):
            valid = ids[row] >= 0
            row_ids = ids[row][valid].tolist()
            score_text = ""
            if explore:
                results: list[tuple[int, float | None, str | None]] = [
                    (i, s, None) for i, s in zip(row_ids, scores[row][valid].tolist(), strict=True)
                ]
                mask = masks[row]
                results = self.recommender._explore(
                    loaded, catalog, results, every_item if mask is None else mask, block.history(row), self.n
                )
                row_ids = [i for i, _, _ in results]
                score_text = ",".join([_score_json(0.0 if s is None else s) for _, s, _ in results])
            elif scored and finite[row].all():
                score_text = ",".join(map(repr, rounded[row][valid].tolist()))  # JSON's float repr
            elif scored:
                score_text = ",".join([_score_json(s) for s in scores[row][valid].tolist()])
            text = '{"input":' + _input_json(line.input) + ',"output":{"recommendedItems":['
            text += ",".join([item_json[i] for i in row_ids]) + "]"
            if scored:
                text += ',"scores":[' + score_text + "]"
            line.text = text + '},"error":null}'

    def _explorer(self, catalog: Catalog) -> bool:
        """Whether exploration can change any answer of this job (aws-user-personalization, slots for
        new items, and cold items in the catalog): the per-user exploration step runs only then."""
        if self.loaded.recipe_name != "aws-user-personalization":
            return False
        config = self.loaded.config.get("item_exploration_config") or {}
        weight = _float_setting(config, "explorationWeight", 0.3, 0.0, 1.0)
        cutoff_days = _float_setting(config, "explorationItemAgeCutOff", 30.0, 0.0, None)
        if round(weight * self.n) == 0:
            return False
        popularity = self.loaded.model.recipe.item_popularity_
        return len(cached_cold_candidates(catalog, popularity, cutoff_days)) > 0

    def _item_json(self, catalog: Catalog) -> list[str]:
        """Every catalog item id JSON-encoded, once per catalog."""
        if self._ids is None or self._ids[0] is not catalog:
            self._ids = (catalog, [_ENCODER.encode(str(i)) for i in catalog.item_ids.tolist()])
        return self._ids[1]

    def _v2_users(self, lines: Sequence[_Line], catalog: Catalog) -> None:
        """The v2 engine's lines, one request state each, as GetRecommendations builds it (live history,
        user metadata, impressions)."""
        loaded, recommender = self.loaded, self.recommender
        recipe = loaded.model.recipe
        assert isinstance(recipe, TwoStageRecipe)
        events = self.events_by_user()
        for line in lines:
            try:
                user_id = _text(line.input["userId"], "userId")
                history = recommender.history(loaded, catalog, user_id, events.get(user_id, []))
                mask = recommender.filter_mask(
                    loaded, catalog, self.filter_arn, _filter_values(line.input), user_id, None, history
                )
                state = recommender._v2_state(loaded, recipe, user_id, history, None)
                ids, scores = recipe.recommend_state(
                    state, self.n, catalog.excluded(mask)
                )
            except PersonalizeError as exc:
                line.error = exc.message
                continue
            item_ids = catalog.item_ids
            line.output = {
                "recommendedItems": [str(item_ids[i]) for i in ids.tolist()],
                "scores": [round(float(s), 7) if math.isfinite(s) else None for s in scores.tolist()],
            }

    def _output(self, items: Sequence[Record]) -> Record:
        """``recommendedItems`` (and ``scores`` for the recipes GetRecommendations scores)."""
        output: Record = {"recommendedItems": [item["item_id"] for item in items]}
        if self.loaded.recipe_name not in SCORELESS:
            output["scores"] = [item.get("score") for item in items]
        return output


class _UserBlock:
    """The users of one block: their lines, masks and where their histories come from."""

    def __init__(self, loaded: LoadedCampaign, catalog: Catalog) -> None:
        self.loaded = loaded
        self.catalog = catalog
        self.lines: list[_Line] = []
        self.masks: list[npt.NDArray[np.bool_] | None] = []
        self.rows: list[int] = []  # the model's user index, -1 for a user it does not know
        self.logged: list[list[dict[str, Any]]] = []
        self.live: dict[int, History] = {}  # block position -> history with events since training

    def add(
        self,
        line: _Line,
        user_id: str,
        logged: list[dict[str, Any]],
        history: History | None,
        mask: npt.NDArray[np.bool_] | None,
    ) -> None:
        if history is not None:
            self.live[len(self.lines)] = history
        self.lines.append(line)
        self.masks.append(mask)
        self.rows.append(self.loaded.model.user_index.get(user_id, -1))
        self.logged.append(logged)

    def training_history(self, user_id: str, logged: list[dict[str, Any]]) -> History:
        """The History of a user without events since training (its training history)."""
        items, weights = self.loaded.model.user_history(user_id)
        as_int = items.astype(np.int64)
        return History(as_int, weights, as_int, logged)

    def history(self, position: int) -> History:
        live = self.live.get(position)
        if live is not None:
            return live
        model = self.loaded.model
        row = self.rows[position]
        if row < 0:
            empty = np.zeros(0, dtype=np.int64)
            return History(empty, np.zeros(0, dtype=np.float32), empty, self.logged[position])
        lo, hi = int(model.history_indptr[row]), int(model.history_indptr[row + 1])
        items = model.history_items[lo:hi].astype(np.int64)
        return History(items, model.history_weights[lo:hi], items, self.logged[position])

    def histories(
        self,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Every history of the block as CSR parts (indptr, items, weights), oldest first: one gather
        from the model's training histories, then the users with events since training."""
        model = self.loaded.model
        source = np.asarray(model.history_indptr, dtype=np.int64)
        rows = np.asarray(self.rows, dtype=np.int64)
        plain = rows >= 0
        for position in self.live:
            plain[position] = False
        safe = np.where(plain, rows, 0)
        lengths = np.where(plain, source[safe + 1] - source[safe], 0)
        for position, history in self.live.items():
            lengths[position] = len(history.items)
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        items = np.empty(int(indptr[-1]), dtype=np.int64)
        weights = np.empty(int(indptr[-1]), dtype=np.float32)
        counts = lengths[plain]
        if counts.sum():
            starts = indptr[:-1][plain]
            within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
            target = np.repeat(starts, counts) + within
            origin = np.repeat(source[rows[plain]], counts) + within
            items[target] = model.history_items[origin]
            weights[target] = model.history_weights[origin]
        for position, history in self.live.items():
            lo, hi = int(indptr[position]), int(indptr[position + 1])
            items[lo:hi] = history.items
            weights[lo:hi] = history.weights
        return indptr, items, weights
