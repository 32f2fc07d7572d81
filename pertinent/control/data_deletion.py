"""Data deletion jobs: erase users from a dataset group (Create/Describe/ListDataDeletionJobs).

The input is a CSV with one ``USER_ID`` column (``dataSource.dataLocation``: local path, ``file://`` or
``s3://``). The worker erases those users from every store pertinent keeps:

* every dataset of the group with a ``USER_ID`` column (Interactions, Users, Action interactions): the bulk
  Parquet is rewritten without their rows (other rows unchanged, same order), under the dataset's lock;
* the event log: every PutEvents / PutUsers record of theirs (anonymous sessions under their id too);
* the trained models' per-user data, in every artifact of the group (solution versions of every recipe,
  domain recommenders): the users' training histories, the v2 engine's per-user rows (last event,
  impressions; the other users keep their own rows), next-best-action histories and user features — so the
  next GetRecommendations / GetActionRecommendations for them is a cold user's; the model weights forget
  them at the next training, as Personalize documents
  (https://docs.aws.amazon.com/personalize/latest/dg/delete-records.html) — for a recommender, at its
  next retraining;
* experiment exposures (native A/B tests log them as events of the user) go with the event log;
* per-user caches: serving processes key them on the files rewritten here and on the group's erasure
  count (in the database), so every process and replica sees the erasure on its next request; with object
  storage the rewritten model data is stored again and every replica fetches it.

Lifecycle as the API documents it: ``PENDING`` → ``IN_PROGRESS`` → ``COMPLETED`` (with ``numDeleted``, the
number of distinct users found and erased) or ``FAILED`` (with ``failureReason``).
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pertinent.control.common import (
    Operation,
    Record,
    insert_new,
    new_record,
    paginate,
    require,
    require_active,
    set_status,
    tags_to_dict,
)
from pertinent.control.context import Context
from pertinent.datasets.locations import LocationPolicy, check_location, open_sources
from pertinent.errors import ImportFailure, InvalidInputException, LimitExceededException
from pertinent.resources.status import IN_FLIGHT

if TYPE_CHECKING:
    from pertinent.control.jobs import JobRunner

KIND = "data-deletion-job"
JOB = "data-deletion"
PENDING, IN_PROGRESS, COMPLETED, FAILED = "PENDING", "IN_PROGRESS", "COMPLETED", "FAILED"
MAX_JOBS_IN_PROGRESS = 5


def create_data_deletion_job(
    ctx: Context,
    job_name: str,
    dataset_group_arn: str,
    data_source: Record,
    role_arn: str,
    tags: list[Record] | None = None,
) -> Record:
    require_active(ctx, "dataset-group", dataset_group_arn)
    location = data_source.get("data_location")
    if not location:
        raise InvalidInputException("dataSource.dataLocation is required.")
    check_location(location, ctx.location_policy(reading=True))
    if ctx.store.pending_jobs(JOB) >= MAX_JOBS_IN_PROGRESS:
        raise LimitExceededException(
            f"More than {MAX_JOBS_IN_PROGRESS} resources with PENDING or IN_PROGRESS status."
        )
    arn = ctx.arn(KIND, job_name)
    record = new_record(
        ctx,
        with_status=False,
        job_name=job_name,
        data_deletion_job_arn=arn,
        dataset_group_arn=dataset_group_arn,
        data_source={"data_location": location},
        role_arn=role_arn,
        tags=tags_to_dict(tags),
    )
    record["status"] = PENDING
    insert_new(ctx, KIND, arn, record, parent_arn=dataset_group_arn, job=JOB)
    return {"data_deletion_job_arn": arn}


def describe_data_deletion_job(ctx: Context, data_deletion_job_arn: str) -> Record:
    return {"data_deletion_job": require(ctx, KIND, data_deletion_job_arn)}


def list_data_deletion_jobs(
    ctx: Context,
    dataset_group_arn: str | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> Record:
    page, token = paginate(ctx, KIND, dataset_group_arn, next_token, max_results)
    return {"data_deletion_jobs": page, "next_token": token}


OPERATIONS: dict[str, Operation] = {
    "CreateDataDeletionJob": create_data_deletion_job,
    "DescribeDataDeletionJob": describe_data_deletion_job,
    "ListDataDeletionJobs": list_data_deletion_jobs,
}


# -- the worker's side --------------------------------------------------------------------------------
def read_user_ids(location: str, s3_endpoint_url: str, policy: LocationPolicy) -> list[str]:
    """The USER_IDs of the deletion CSV(s), in order, without repeats; ImportFailure when malformed."""
    users: dict[str, None] = {}
    for name, opener in open_sources(location, s3_endpoint_url, policy=policy):
        stream = opener()
        try:
            raw = stream.read()
        finally:
            stream.close()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ImportFailure(f"{name} is not UTF-8: {exc}.") from None
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if header is None or [h.strip().upper() for h in header] != ["USER_ID"]:
            raise ImportFailure(
                f"{name} must have exactly one column, USER_ID, with a header row; found {header}."
            )
        for line, row in enumerate(reader, start=2):
            if not row or not "".join(row).strip():
                continue
            if len(row) != 1 or not row[0].strip():
                raise ImportFailure(f"{name} line {line}: expected one USER_ID, found {row}.")
            if len(row[0]) > 256:
                raise ImportFailure(f"{name} line {line}: a USER_ID has at most 256 characters.")
            users[row[0]] = None
    return list(users)


def _erase_from_bulk(path: Path, users: set[str]) -> set[str]:
    """Rewrite ``path`` without the rows of ``users`` (atomically); the users it held."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if "USER_ID" not in table.column_names:
        return set()
    ids = table.column("USER_ID").cast(pa.string())
    hit = pc.is_in(ids, value_set=pa.array(sorted(users), type=pa.string()))
    found = {str(u) for u in pc.unique(ids.filter(hit)).to_pylist()}
    if not found:
        return set()
    kept = table.filter(pc.invert(hit))
    tmp = path.with_suffix(".erasing.parquet")
    pq.write_table(kept, tmp)
    tmp.replace(path)
    return found


#: arrays of a recipe's saved state (``model.npz``) with one row per model user, in ``data.npz``'s user
#: order (the v2 engine's last-event features and impressions): rows of erased users go, the others keep
#: their order, so every remaining user's index still finds its own row
PER_USER_ARRAYS = ("user_last_event_type", "user_last_event_value", "user_last_time")
PER_USER_CSR = ("user_impressions",)


def _write_npz(path: Path, arrays: dict[str, Any]) -> None:
    import numpy as np

    tmp = path.with_name(path.stem + ".erasing.npz")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    tmp.replace(path)


def _erase_recipe_rows(model_file: Path, keep: Any) -> bool:
    """Drop the erased users' rows from the recipe state's per-user arrays; whether there were any."""
    import numpy as np

    if not model_file.exists():
        return False
    with np.load(model_file, allow_pickle=False) as archive:
        names = set(archive.files)
        if not any(n in names for n in PER_USER_ARRAYS) and not any(
            f"{n}__indptr" in names for n in PER_USER_CSR
        ):
            return False
        arrays = {key: archive[key] for key in archive.files}
    n_users = len(keep)
    for name in PER_USER_ARRAYS:
        if name in arrays and len(arrays[name]) == n_users:
            arrays[name] = arrays[name][keep]
    for name in PER_USER_CSR:
        if f"{name}__indptr" not in arrays or int(arrays[f"{name}__shape"][0]) != n_users:
            continue
        indptr = arrays[f"{name}__indptr"].astype(np.int64)
        lengths = np.diff(indptr)
        entries = np.repeat(keep, lengths)
        arrays[f"{name}__data"] = arrays[f"{name}__data"][entries]
        arrays[f"{name}__indices"] = arrays[f"{name}__indices"][entries]
        arrays[f"{name}__indptr"] = np.concatenate([[0], np.cumsum(lengths[keep])]).astype(np.int64)
        arrays[f"{name}__shape"] = np.asarray(
            [int(keep.sum()), int(arrays[f"{name}__shape"][1])], dtype=np.int64
        )
    _write_npz(model_file, arrays)
    return True


def _erase_from_artifact(artifact_dir: Path, users: set[str]) -> tuple[set[str], list[str]]:
    """Drop the users' training histories from a trained model's ``data.npz``, and their rows from the
    recipe's per-user state (``model.npz``), atomically per file; the users found and the files rewritten
    (``model.npz`` first: serving reloads a model when ``data.npz`` changes)."""
    import numpy as np

    data_file = artifact_dir / "data.npz"
    if not data_file.exists():
        return set(), []
    with np.load(data_file, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    user_ids = arrays["user_ids"]
    erased = np.isin(user_ids, np.asarray(sorted(users), dtype=user_ids.dtype))
    if not erased.any():
        return set(), []
    rewritten = ["model.npz"] if _erase_recipe_rows(artifact_dir / "model.npz", ~erased) else []
    indptr = arrays["history_indptr"].astype(np.int64)
    lengths = np.diff(indptr)
    keep_rows = np.repeat(~erased, lengths)
    arrays["user_ids"] = user_ids[~erased]
    arrays["history_indptr"] = np.concatenate([[0], np.cumsum(lengths[~erased])]).astype(indptr.dtype)
    arrays["history_items"] = arrays["history_items"][keep_rows]
    arrays["history_weights"] = arrays["history_weights"][keep_rows]
    _write_npz(data_file, arrays)
    return {str(u) for u in user_ids[erased].tolist()}, [*rewritten, "data.npz"]


def _erase_from_action_artifact(artifact_dir: Path, users: set[str]) -> tuple[set[str], list[str]]:
    """A next-best-action model's per-user data: its users' action histories (``histories.npz``) and
    their Users-dataset features (``actions.json``)."""
    import json

    import numpy as np

    histories = artifact_dir / "histories.npz"
    catalog = artifact_dir / "actions.json"
    found: set[str] = set()
    rewritten: list[str] = []
    if catalog.exists():
        data = json.loads(catalog.read_text())
        rows = data.get("users", {}).get("rows", {})
        hit = set(rows) & users
        if hit:
            data["users"]["rows"] = {u: r for u, r in rows.items() if u not in hit}
            tmp = catalog.with_name("actions.erasing.json")
            tmp.write_text(json.dumps(data, default=str))
            tmp.replace(catalog)
            found |= hit
            rewritten.append("actions.json")
    if histories.exists():
        with np.load(histories, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        user_ids = arrays["user_ids"]
        erased = np.isin(user_ids, np.asarray(sorted(users), dtype=user_ids.dtype))
        if erased.any():
            lengths = np.diff(arrays["indptr"].astype(np.int64))
            keep = np.repeat(~erased, lengths)
            arrays["user_ids"] = user_ids[~erased]
            arrays["indptr"] = np.concatenate([[0], np.cumsum(lengths[~erased])]).astype(np.int64)
            for key in ("actions", "timestamps", "kinds"):
                arrays[key] = arrays[key][keep]
            _write_npz(histories, arrays)
            found |= {str(u) for u in user_ids[erased].tolist()}
            rewritten.append("histories.npz")
    return found, rewritten


def _group_artifacts(ctx: Context, dataset_group_arn: str) -> list[tuple[str, bool]]:
    """(model ARN, still training) of every trained model of the group: solution versions and domain
    recommenders."""
    found: list[tuple[str, bool]] = []
    for solution in ctx.store.list("solution", dataset_group_arn):
        for version in ctx.store.list("solution-version", solution["solution_arn"]):
            found.append((version["solution_version_arn"], version.get("status") in IN_FLIGHT))
    for recommender in ctx.store.list("recommender", dataset_group_arn):
        if recommender.get("model_arn"):
            found.append((recommender["model_arn"], False))
    return found


def run_data_deletion_job(runner: JobRunner, arn: str) -> None:
    """The worker's handler: erase the job's users everywhere, then COMPLETED with ``numDeleted``."""
    from pertinent.datasets.avro_schema import normalize_dataset_type

    ctx = runner.ctx
    job = ctx.store.get(arn)
    if job is None or job.get("status") not in (PENDING, IN_PROGRESS):
        return  # (IN_PROGRESS: a retry after the worker holding the job died; erasing again is harmless)
    set_status(ctx, arn, IN_PROGRESS)
    group = job["dataset_group_arn"]
    try:
        policy = ctx.location_policy(reading=True)
        users = read_user_ids(job["data_source"]["data_location"], ctx.settings.s3_endpoint_url, policy)
    except ImportFailure as exc:
        set_status(ctx, arn, FAILED, str(exc))
        return
    wanted = set(users)
    erased: set[str] = set()
    if wanted:
        for dataset in ctx.store.list("dataset", group):
            if normalize_dataset_type(dataset["dataset_type"]) == "ITEMS":
                continue
            with runner._dataset_lock(dataset["dataset_arn"]):
                bulk = ctx.bulk_file(dataset)
                if bulk.exists():
                    erased |= _erase_from_bulk(bulk, wanted)
                    ctx.republish_bulk(dataset, bulk)  # object storage: a new version for every replica
        erased |= _logged_users(ctx, group, wanted)
        ctx.store.delete_user_events(group, users)
        revision = ctx.artifact_revision(ctx.store.get(group))
        for model_arn, training in _group_artifacts(ctx, group):
            artifact_dir = (
                ctx.artifact_dir(model_arn) if training else ctx.trained_artifact(model_arn, revision)
            )
            found, rewritten = _erase_from_artifact(artifact_dir, wanted)
            more, rewritten_too = _erase_from_action_artifact(artifact_dir, wanted)
            if not training:
                for name in rewritten + rewritten_too:  # object storage: for every replica
                    ctx.republish_artifact_file(model_arn, name)
            erased |= found | more
            if not training:  # merged training inputs of finished versions hold the users' rows too
                shutil.rmtree(artifact_dir / "inputs", ignore_errors=True)
        ctx.record_erasure(group)  # in the database: every process drops its per-user caches
    set_status(ctx, arn, COMPLETED, num_deleted=len(erased))


def _logged_users(ctx: Context, group: str, wanted: set[str]) -> set[str]:
    found: set[str] = set()
    for kind in ("interaction", "user", "action_interaction"):
        for event in ctx.store.events_of_kind(group, kind):
            owner: Any = event["user_id"] or event["session_id"]
            if owner in wanted:
                found.add(str(owner))
    return found
