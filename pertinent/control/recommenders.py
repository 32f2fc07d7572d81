"""Recommenders of domain dataset groups: Create/Describe/List/Update/Start/Stop/DeleteRecommender.

A recommender is a use case (``arn:aws:personalize:::recipe/aws-vod-top-picks`` …) trained on one of our
recipes with the domain's documented rules: which event type it learns from, which events the user's own
history excludes from the answer, whether ``userId``/``itemId`` are required (docs/recommenders.md cites the
AWS pages). Training is a job like a solution version's (same child process and artifact format); the
recommender's model lives at ``<data_dir>/artifacts/recommender/{name}/{id}``. Lifecycle (personalize_api.md
§5): CREATE PENDING → CREATE IN_PROGRESS → ACTIVE | CREATE FAILED; StopRecommender: STOP PENDING →
STOP IN_PROGRESS → INACTIVE; StartRecommender: START PENDING → START IN_PROGRESS → ACTIVE. An ACTIVE
recommender is retrained automatically every ``settings.recommender_retrain_seconds`` (7 days, as AWS
documents) on everything imported and streamed since.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pertinent import arns
from pertinent.control.common import (
    Operation,
    Record,
    insert_new,
    new_record,
    paginate,
    require,
    require_usable,
    set_status,
    tags_to_dict,
)
from pertinent.control.context import Context
from pertinent.control.training_process import run_training_process
from pertinent.errors import (
    InvalidInputException,
    ResourceInUseException,
    ResourceNotFoundException,
    TrainingFailure,
)
from pertinent.recipes.catalog import ALL_RECIPES
from pertinent.recipes.use_cases import use_case_of
from pertinent.resources.status import ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS, CREATE_PENDING

if TYPE_CHECKING:
    from pertinent.control.jobs import JobRunner

KIND = "recommender"

STOP_PENDING, STOP_IN_PROGRESS, INACTIVE = "STOP PENDING", "STOP IN_PROGRESS", "INACTIVE"
START_PENDING, START_IN_PROGRESS = "START PENDING", "START IN_PROGRESS"
#: jobs this module runs (JobRunner dispatches them here)
TRAIN_JOB, RETRAIN_JOB, STATE_JOB = "train-recommender", "retrain-recommender", "recommender-state"


#: recommenderConfig members a retrain needs (the others take effect at once)
_TRAINING_KEYS = ("training_data_config",)
#: columns a trainingDataConfig may never exclude
_REQUIRED_COLUMNS = {"USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "CREATION_TIMESTAMP"}


def _check_config(config: Record | None) -> Record:
    from pertinent.serving.batch import check_exploration_config

    config = dict(config or {})
    check_exploration_config(config.get("item_exploration_config"))  # as GetRecommendations would refuse it
    for member in ("excluded_dataset_columns", "included_dataset_columns"):
        columns = (config.get("training_data_config") or {}).get(member) or {}
        for dataset_type, names in columns.items():
            if dataset_type.upper() not in ("INTERACTIONS", "ITEMS", "USERS"):
                raise InvalidInputException(
                    f"trainingDataConfig.{member} keys are Interactions, Items or Users, not {dataset_type!r}."
                )
            required = sorted(_REQUIRED_COLUMNS & {n.upper() for n in names})
            if member == "excluded_dataset_columns" and required:
                raise InvalidInputException(
                    f"trainingDataConfig cannot exclude the required column {required[0]}."
                )
    config.setdefault("min_recommendation_requests_per_second", 1)
    return config


def create_recommender(
    ctx: Context,
    name: str,
    dataset_group_arn: str,
    recipe_arn: str,
    recommender_config: Record | None = None,
    tags: list[Record] | None = None,
) -> Record:
    group = require_usable(ctx, "dataset-group", dataset_group_arn)
    if recipe_arn not in ALL_RECIPES:
        raise ResourceNotFoundException(f"Could not find recipe with ARN {recipe_arn}.")
    use_case = use_case_of(recipe_arn)
    if group.get("domain") != use_case.domain:
        raise InvalidInputException(
            f"{recipe_arn} is a {use_case.domain} use case; dataset group {dataset_group_arn} has domain "
            f"{group.get('domain') or 'none (custom)'}. Recommenders need a domain dataset group of their domain."
        )
    arn = ctx.arn(KIND, name)
    record = new_record(
        ctx,
        name=name,
        recommender_arn=arn,
        dataset_group_arn=dataset_group_arn,
        recipe_arn=recipe_arn,
        recommender_config=_check_config(recommender_config),
        tags=tags_to_dict(tags),
    )
    insert_new(ctx, KIND, arn, record, parent_arn=dataset_group_arn, job=TRAIN_JOB)
    return {"recommender_arn": arn}


def _public(record: Record) -> Record:
    record = dict(record)
    if record.get("status") != ACTIVE and record.get("status") not in (INACTIVE, STOP_PENDING, START_PENDING):
        record.pop("model_metrics", None)  # Personalize: null while creating or deleting
    return record


def describe_recommender(ctx: Context, recommender_arn: str) -> Record:
    return {"recommender": _public(require(ctx, KIND, recommender_arn))}


def list_recommenders(
    ctx: Context,
    dataset_group_arn: str | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> Record:
    page, token = paginate(ctx, KIND, dataset_group_arn, next_token, max_results)
    return {"recommenders": page, "next_token": token}


def update_recommender(ctx: Context, recommender_arn: str, recommender_config: Record) -> Record:
    recommender = require(ctx, KIND, recommender_arn)
    if recommender["status"] != ACTIVE:
        raise ResourceInUseException(
            f"Recommender {recommender_arn} is {recommender['status']}; it can be updated when ACTIVE."
        )
    latest = recommender.get("latest_recommender_update") or {}
    if latest.get("status") in (CREATE_PENDING, CREATE_IN_PROGRESS):
        raise ResourceInUseException(f"Recommender {recommender_arn} already has an update in progress.")
    config = {**recommender.get("recommender_config", {}), **_check_config(recommender_config)}
    now = ctx.now()
    retrain = any(config.get(k) != recommender.get("recommender_config", {}).get(k) for k in _TRAINING_KEYS)
    update = {
        "recommender_config": config,
        "status": CREATE_PENDING if retrain else ACTIVE,
        "creation_date_time": now,
        "last_updated_date_time": now,
    }
    changes: Record = {"latest_recommender_update": update, "last_updated_date_time": now}
    if not retrain:  # exploration, metadata, TPS: in effect for the next request
        changes["recommender_config"] = config
    ctx.store.update(recommender_arn, changes)
    if retrain:
        ctx.store.enqueue(RETRAIN_JOB, recommender_arn)
    return {"recommender_arn": recommender_arn}


def start_recommender(ctx: Context, recommender_arn: str) -> Record:
    recommender = require(ctx, KIND, recommender_arn)
    if recommender["status"] != INACTIVE:
        raise InvalidInputException(
            f"Recommender {recommender_arn} is {recommender['status']}; only an INACTIVE recommender can be "
            "started."
        )
    set_status(ctx, recommender_arn, START_PENDING)
    ctx.store.enqueue(STATE_JOB, recommender_arn)
    return {"recommender_arn": recommender_arn}


def stop_recommender(ctx: Context, recommender_arn: str) -> Record:
    recommender = require(ctx, KIND, recommender_arn)
    if recommender["status"] != ACTIVE:
        raise InvalidInputException(
            f"Recommender {recommender_arn} is {recommender['status']}; only an ACTIVE recommender can be "
            "stopped."
        )
    set_status(ctx, recommender_arn, STOP_PENDING)
    ctx.store.enqueue(STATE_JOB, recommender_arn)
    return {"recommender_arn": recommender_arn}


def delete_recommender(ctx: Context, recommender_arn: str) -> dict[str, Any]:
    recommender = require(ctx, KIND, recommender_arn)
    ctx.store.delete(recommender_arn)
    if recommender.get("model_arn"):
        ctx.storage.delete_tree(ctx.artifact_key(recommender["model_arn"]).rsplit("/", 1)[0])
    return {}


OPERATIONS: dict[str, Operation] = {
    "CreateRecommender": create_recommender,
    "DescribeRecommender": describe_recommender,
    "ListRecommenders": list_recommenders,
    "UpdateRecommender": update_recommender,
    "StartRecommender": start_recommender,
    "StopRecommender": stop_recommender,
    "DeleteRecommender": delete_recommender,
}


# -- jobs (run by the worker) --------------------------------------------------------------------------
def run_state_change(ctx: Context, arn: str) -> None:
    """STOP PENDING → STOP IN_PROGRESS → INACTIVE, START PENDING → START IN_PROGRESS → ACTIVE."""
    record = ctx.store.get(arn, KIND)
    if record is None:
        return
    if record["status"] == STOP_PENDING:
        set_status(ctx, arn, STOP_IN_PROGRESS)
        set_status(ctx, arn, INACTIVE)
    elif record["status"] == START_PENDING:
        set_status(ctx, arn, START_IN_PROGRESS)
        set_status(ctx, arn, ACTIVE)


def _exclude_columns(
    inputs: dict[str, Path | None], config: Record, work_dir: Path
) -> dict[str, Path | None]:
    """Drop ``trainingDataConfig.excludedDatasetColumns`` (and keep only the included ones) from the inputs."""
    import pyarrow.parquet as pq

    training = config.get("training_data_config") or {}
    excluded = {
        k.upper(): {c.upper() for c in v} for k, v in (training.get("excluded_dataset_columns") or {}).items()
    }
    included = {
        k.upper(): {c.upper() for c in v} for k, v in (training.get("included_dataset_columns") or {}).items()
    }
    out = dict(inputs)
    for dataset_type, path in inputs.items():
        if path is None or (dataset_type not in excluded and dataset_type not in included):
            continue
        table = pq.read_table(path)
        keep = [
            c
            for c in table.column_names
            if c in _REQUIRED_COLUMNS
            or (
                c not in excluded.get(dataset_type, set())
                and (dataset_type not in included or c in included[dataset_type])
            )
        ]
        work_dir.mkdir(parents=True, exist_ok=True)
        target = work_dir / f"{dataset_type.lower()}-columns.parquet"
        pq.write_table(table.select(keep), target)
        out[dataset_type] = target
    return out


def run_training(runner: JobRunner, arn: str, retrain: bool) -> None:
    """Train (or retrain) a recommender's model; a retrain keeps serving the old model until it is done."""
    ctx = runner.ctx
    record = ctx.store.get(arn, KIND)
    if record is None:
        return
    if not retrain and record["status"] not in (CREATE_PENDING, CREATE_IN_PROGRESS):
        return  # (IN_PROGRESS: a retry after the worker holding the job died)
    update = record.get("latest_recommender_update") or {}
    config = update.get("recommender_config") if update.get("status") == CREATE_PENDING else None
    config = config or record.get("recommender_config") or {}
    if retrain:
        if update.get("status") == CREATE_PENDING:
            ctx.store.update(arn, lambda r: _with_update_status(r, CREATE_IN_PROGRESS, ctx.now()))
    else:
        set_status(ctx, arn, CREATE_IN_PROGRESS)
    use_case = use_case_of(record["recipe_arn"])
    model_arn = ctx.arn(KIND, record["name"], secrets.token_hex(4))
    artifact_dir = ctx.artifact_dir(model_arn)
    inputs, watermark = runner.training_inputs(record["dataset_group_arn"], artifact_dir / "inputs")
    inputs = _exclude_columns(inputs, config, artifact_dir / "inputs")
    version_like: dict[str, Any] = {
        "recipe_arn": arns.recipe_arn(use_case.base_recipe),
        "solution_config": {},
        "event_type": use_case.event_type,
        "perform_hpo": False,
    }

    def on_progress(fraction: float, message: str) -> bool:
        del fraction, message
        return ctx.store.get(arn, KIND) is not None  # deleted meanwhile: stop

    try:
        if inputs["INTERACTIONS"] is None:
            raise TrainingFailure(
                "The dataset group has no interactions data. Import an Interactions dataset first."
            )
        result = run_training_process(version_like, inputs, artifact_dir, ctx.settings, on_progress)
    except TrainingFailure as exc:
        shutil.rmtree(artifact_dir, ignore_errors=True)
        reason = str(exc)
        if retrain:
            ctx.store.update(
                arn,
                lambda r: {
                    **_with_update_status(r, CREATE_FAILED, ctx.now(), reason),
                    "last_trained": ctx.now(),
                },
            )
        else:
            set_status(ctx, arn, CREATE_FAILED, reason)
        return
    now = ctx.now()
    old_model = record.get("model_arn")

    def activate(current: Record) -> Record:
        current = {
            **current,
            "model_arn": model_arn,
            "model_metrics": result["metrics"],
            "event_watermark": watermark,
            "last_trained": now,
            "last_updated_date_time": now,
        }
        pending = current.get("latest_recommender_update") or {}
        if pending.get("status") == CREATE_IN_PROGRESS:
            current["recommender_config"] = pending.get(
                "recommender_config", current.get("recommender_config")
            )
            current = _with_update_status(current, ACTIVE, now)
        if not retrain:
            current["status"] = ACTIVE
        return current

    ctx.storage.publish_tree(ctx.artifact_key(model_arn), skip=("inputs",))  # for every replica
    if ctx.store.update(arn, activate) is None:
        shutil.rmtree(artifact_dir, ignore_errors=True)  # deleted while training
        return
    keep = {artifact_dir.name, ctx.artifact_dir(old_model).name if old_model else ""}
    for older in artifact_dir.parent.iterdir():  # the previous model stays for processes still serving it
        if older.name not in keep:
            shutil.rmtree(older, ignore_errors=True)
    ctx.storage.prune_trees(ctx.artifact_key(model_arn).rsplit("/", 1)[0], keep - {""})  # and in the store


def _with_update_status(record: Record, status: str, now: float, reason: str | None = None) -> Record:
    update = dict(record.get("latest_recommender_update") or {})
    update["status"] = status
    update["last_updated_date_time"] = now
    if reason:
        update["failure_reason"] = reason
    return {**record, "latest_recommender_update": update}


def queue_due_retraining(ctx: Context) -> list[str]:
    """Queue a retrain for each ACTIVE recommender trained longer ago than the retrain interval."""
    interval = ctx.settings.recommender_retrain_seconds
    if interval <= 0:
        return []
    queued = []
    now = ctx.now()
    for record in ctx.store.list(KIND):
        if record.get("status") != ACTIVE or now - float(record.get("last_trained") or now) < interval:
            continue
        claimed = False

        def claim(current: Record) -> Record:
            nonlocal claimed
            if (
                current.get("status") == ACTIVE
                and now - float(current.get("last_trained") or now) >= interval
            ):
                claimed = True
                return {**current, "last_trained": now}  # the retrain resets the clock when it ends
            return current

        ctx.store.update(record["recommender_arn"], claim)
        if claimed:
            ctx.store.enqueue(RETRAIN_JOB, record["recommender_arn"])
            queued.append(record["recommender_arn"])
    return queued
