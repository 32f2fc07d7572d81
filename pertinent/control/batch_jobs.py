"""Batch inference and batch segment jobs: Create/Describe/List, and what the worker does with them.

A job runs over a solution version (no campaign needed): it reads JSON Lines from ``jobInput.s3DataSource
.path`` (a file or a folder / prefix: a local path, ``file://`` or ``s3://``, as for imports) and writes
one ``<input file name>.out`` per input file into ``jobOutput.s3DataDestination.path``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pertinent.control.common import (
    Operation,
    Record,
    insert_new,
    new_record,
    paginate,
    require,
    set_status,
    tags_to_dict,
)
from pertinent.control.context import Context
from pertinent.datasets.locations import check_location, open_sources, write_output
from pertinent.errors import (
    ImportFailure,
    InvalidInputException,
    LimitExceededException,
    PersonalizeError,
    ResourceInUseException,
)
from pertinent.recipes.catalog import ALL_RECIPES, RecipeInfo
from pertinent.resources.status import ACTIVE, CREATE_FAILED, CREATE_IN_PROGRESS, CREATE_PENDING

INFERENCE = "batch-inference-job"
SEGMENT = "batch-segment-job"
MAX_JOBS_IN_PROGRESS = 5
#: recipes Personalize cannot run batch inference with
NO_BATCH_INFERENCE = {"aws-trending-now", "aws-next-best-action"}
DEFAULT_RESULTS = 25
MAX_INFERENCE_RESULTS = 500
DEFAULT_SEGMENT_USERS = 25
MAX_SEGMENT_USERS = 5_000_000


def _version_recipe(ctx: Context, solution_version_arn: str) -> tuple[Record, RecipeInfo]:
    version = require(ctx, "solution-version", solution_version_arn)
    if version.get("status") != ACTIVE:
        raise ResourceInUseException(
            f"The solution version {solution_version_arn} is not in ACTIVE state (status: "
            f"{version.get('status')})."
        )
    return version, ALL_RECIPES[version["recipe_arn"]]


def _check_filter(ctx: Context, filter_arn: str | None, dataset_group_arn: str) -> None:
    if not filter_arn:
        return
    record = require(ctx, "filter", filter_arn)
    if record.get("dataset_group_arn") != dataset_group_arn:
        raise InvalidInputException(
            f"Filter {filter_arn} belongs to another dataset group than the solution version."
        )
    if record.get("status") != ACTIVE:
        raise ResourceInUseException(f"Filter {filter_arn} is {record.get('status')}, not ACTIVE.")


def _check_locations(ctx: Context, job_input: Record, job_output: Record) -> tuple[str, str]:
    source = job_input["s3_data_source"]["path"]
    dest = job_output["s3_data_destination"]["path"]
    check_location(source, ctx.location_policy(reading=True))
    check_location(dest, ctx.location_policy())
    if source.rstrip("/") == dest.rstrip("/"):
        raise InvalidInputException("The output location must differ from the input location.")
    return source, dest


def _check_count(value: int | None, default: int, high: int, what: str) -> int:
    if value is None:
        return default
    if not 1 <= value <= high:
        raise InvalidInputException(f"numResults must be between 1 and {high} {what}, not {value}.")
    return value


def _limit(ctx: Context, job: str) -> None:
    if ctx.store.pending_jobs(job) >= MAX_JOBS_IN_PROGRESS:
        raise LimitExceededException(
            f"More than {MAX_JOBS_IN_PROGRESS} resources with PENDING or IN_PROGRESS status."
        )


# -- batch inference ----------------------------------------------------------------------------------
def create_batch_inference_job(
    ctx: Context,
    job_name: str,
    solution_version_arn: str,
    job_input: Record,
    job_output: Record,
    role_arn: str,
    filter_arn: str | None = None,
    num_results: int | None = None,
    batch_inference_job_config: Record | None = None,
    tags: list[Record] | None = None,
    batch_inference_job_mode: str | None = None,
    theme_generation_config: Record | None = None,
) -> Record:
    from pertinent.serving.batch import check_exploration_config

    mode = batch_inference_job_mode or "BATCH_INFERENCE"
    if mode == "THEME_GENERATION" or theme_generation_config:
        raise InvalidInputException(
            "batchInferenceJobMode THEME_GENERATION needs a large language model (Content Generator) to "
            "write themes; pertinent does not generate text. Use BATCH_INFERENCE."
        )
    version, recipe = _version_recipe(ctx, solution_version_arn)
    if recipe.name in NO_BATCH_INFERENCE:
        # https://docs.aws.amazon.com/personalize/latest/dg/batch-inference-job-output-examples.html
        instead = "GetActionRecommendations" if recipe.name == "aws-next-best-action" else "GetRecommendations"
        raise InvalidInputException(
            f"You can't get batch recommendations with the {recipe.name} recipe (Amazon Personalize has no "
            f"batch inference for Trending-Now or Next-Best-Action); call {instead} for each user instead."
        )
    if recipe.recipe_type == "USER_SEGMENTATION":
        raise InvalidInputException(
            f"{recipe.name} is a USER_SEGMENTATION recipe; use CreateBatchSegmentJob to get user segments."
        )
    config = dict(batch_inference_job_config or {})
    if config.get("ranking_influence"):
        raise InvalidInputException(
            "batchInferenceJobConfig.rankingInfluence is not supported by pertinent; omit it."
        )
    check_exploration_config(config.get("item_exploration_config"))
    n = _check_count(num_results, DEFAULT_RESULTS, MAX_INFERENCE_RESULTS, "items")
    _check_filter(ctx, filter_arn, version["dataset_group_arn"])
    _check_locations(ctx, job_input, job_output)
    _limit(ctx, "batch-inference")
    arn = ctx.arn(INFERENCE, job_name)
    record = new_record(
        ctx,
        job_name=job_name,
        batch_inference_job_arn=arn,
        solution_version_arn=solution_version_arn,
        filter_arn=filter_arn,
        num_results=n,
        job_input=job_input,
        job_output=job_output,
        role_arn=role_arn,
        batch_inference_job_config=config or None,
        batch_inference_job_mode=mode,
        tags=tags_to_dict(tags),
    )
    insert_new(ctx, INFERENCE, arn, record, parent_arn=solution_version_arn, job="batch-inference")
    return {"batch_inference_job_arn": arn}


def describe_batch_inference_job(ctx: Context, batch_inference_job_arn: str) -> Record:
    return {"batch_inference_job": require(ctx, INFERENCE, batch_inference_job_arn)}


def list_batch_inference_jobs(
    ctx: Context,
    solution_version_arn: str | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> Record:
    page, token = paginate(ctx, INFERENCE, solution_version_arn, next_token, max_results)
    return {"batch_inference_jobs": page, "next_token": token}


# -- batch segment ------------------------------------------------------------------------------------
def create_batch_segment_job(
    ctx: Context,
    job_name: str,
    solution_version_arn: str,
    job_input: Record,
    job_output: Record,
    role_arn: str,
    filter_arn: str | None = None,
    num_results: int | None = None,
    tags: list[Record] | None = None,
) -> Record:
    version, recipe = _version_recipe(ctx, solution_version_arn)
    if recipe.recipe_type != "USER_SEGMENTATION":
        raise InvalidInputException(
            f"Batch segment jobs need a solution version trained with a USER_SEGMENTATION recipe "
            f"(aws-item-affinity, aws-item-attribute-affinity), not {recipe.name}."
        )
    n = _check_count(num_results, DEFAULT_SEGMENT_USERS, MAX_SEGMENT_USERS, "users")
    _check_filter(ctx, filter_arn, version["dataset_group_arn"])
    _check_locations(ctx, job_input, job_output)
    if filter_arn:
        from pertinent.filters.evaluate import compile_user_filter
        from pertinent.filters.parser import parse_filter

        compile_user_filter(parse_filter(require(ctx, "filter", filter_arn)["filter_expression"]))
    _limit(ctx, "batch-segment")
    arn = ctx.arn(SEGMENT, job_name)
    record = new_record(
        ctx,
        job_name=job_name,
        batch_segment_job_arn=arn,
        solution_version_arn=solution_version_arn,
        filter_arn=filter_arn,
        num_results=n,
        job_input=job_input,
        job_output=job_output,
        role_arn=role_arn,
        tags=tags_to_dict(tags),
    )
    insert_new(ctx, SEGMENT, arn, record, parent_arn=solution_version_arn, job="batch-segment")
    return {"batch_segment_job_arn": arn}


def describe_batch_segment_job(ctx: Context, batch_segment_job_arn: str) -> Record:
    return {"batch_segment_job": require(ctx, SEGMENT, batch_segment_job_arn)}


def list_batch_segment_jobs(
    ctx: Context,
    solution_version_arn: str | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> Record:
    page, token = paginate(ctx, SEGMENT, solution_version_arn, next_token, max_results)
    return {"batch_segment_jobs": page, "next_token": token}


def wire_progress(result: Record, body: dict[str, Any]) -> None:
    """Add ``jobProgress`` to a Describe response's raw JSON (botocore's shapes have no member for it,
    so SDKs ignore it; curl, ``--debug`` and boto3's ``after-call`` hook see it)."""
    for key, member in (("batch_inference_job", "batchInferenceJob"), ("batch_segment_job", "batchSegmentJob")):
        record = result.get(key)
        progress = record.get("job_progress") if isinstance(record, dict) else None
        if progress and member in body:
            body[member]["jobProgress"] = {
                "fraction": progress.get("fraction", 0.0),
                "linesDone": progress.get("lines", 0),
                "files": progress.get("files", 0),
            }


#: operations whose raw response carries pertinent's extra members (see docs/batch.md)
WIRE_EXTENSIONS: dict[str, Callable[[Record, dict[str, Any]], None]] = {
    "DescribeBatchInferenceJob": wire_progress,
    "DescribeBatchSegmentJob": wire_progress,
}

OPERATIONS: dict[str, Operation] = {
    "CreateBatchInferenceJob": create_batch_inference_job,
    "DescribeBatchInferenceJob": describe_batch_inference_job,
    "ListBatchInferenceJobs": list_batch_inference_jobs,
    "CreateBatchSegmentJob": create_batch_segment_job,
    "DescribeBatchSegmentJob": describe_batch_segment_job,
    "ListBatchSegmentJobs": list_batch_segment_jobs,
}


# -- the worker's side --------------------------------------------------------------------------------
#: answer_file(text, progress) -> output lines, for one input file
FileRunner = Callable[[str, Callable[[int, int], None]], Any]


def _run_files(ctx: Context, arn: str, job: Record, kind: str, answer_file: FileRunner) -> Record:
    """Read every input file, answer it, write ``<name>.out``; returns the final ``job_progress``.

    Progress, after every block of lines: ``job_progress`` in the record (the raw Describe response's
    ``jobProgress``, see :func:`wire_progress`), ``lastUpdatedDateTime`` moved to the time of the block,
    and a ``state=progress`` line in the server's job log every 10 %."""
    endpoint = ctx.settings.s3_endpoint_url
    policy = ctx.location_policy(reading=True)
    sources = open_sources(job["job_input"]["s3_data_source"]["path"], endpoint, suffix="", policy=policy)
    destination = job["job_output"]["s3_data_destination"]["path"]
    lines_done = 0
    for index, (name, opener) in enumerate(sources):

        def progress(done: int, total: int, index: int = index, before: int = lines_done) -> None:
            fraction = (index + (done / total if total else 1.0)) / len(sources)
            state = {"fraction": round(fraction, 4), "lines": before + done, "files": len(sources)}
            if fraction < 1.0:  # the last block's state is written with the job's status (_run)
                ctx.store.update(arn, {"job_progress": state, "last_updated_date_time": ctx.now()})
            ctx.telemetry.job_progress(kind, arn, fraction, f"{before + done} lines")

        stream = opener()
        try:
            raw = stream.read()
        finally:
            stream.close()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ImportFailure(f"Input file {name} is not UTF-8: {exc}.") from None
        lines = list(answer_file(text, progress))
        lines_done += len(lines)
        body = "".join(f"{line}\n" for line in lines).encode()
        write_output(destination, f"{name}.out", body, endpoint, policy=ctx.location_policy())
    return {"fraction": 1.0, "lines": lines_done, "files": len(sources)}


def _run(ctx: Context, arn: str, kind: str, build: Callable[[Record], FileRunner]) -> None:
    job = ctx.store.get(arn)
    if job is None or job.get("status") not in (CREATE_PENDING, CREATE_IN_PROGRESS):
        return  # (IN_PROGRESS: a retry after the worker holding the job died; the output is rewritten)
    set_status(ctx, arn, CREATE_IN_PROGRESS, job_progress={"fraction": 0.0, "lines": 0})
    try:
        done = _run_files(ctx, arn, job, kind, build(job))
    except ImportFailure as exc:
        set_status(ctx, arn, CREATE_FAILED, str(exc))
        return
    except PersonalizeError as exc:
        set_status(ctx, arn, CREATE_FAILED, exc.message)
        return
    set_status(ctx, arn, ACTIVE, job_progress=done)


def run_batch_inference_job(ctx: Context, arn: str, recommender: Any) -> None:
    """The worker's handler for ``batch-inference`` jobs (``recommender``: the worker's Recommender)."""
    from pertinent.serving.batch import BatchInference

    def build(job: Record) -> FileRunner:
        config = job.get("batch_inference_job_config") or {}
        loaded = recommender.campaigns.for_version(
            job["solution_version_arn"],
            {
                "campaign_arn": arn,  # the source of its recommendation ids
                "campaign_config": {"item_exploration_config": config.get("item_exploration_config") or {}},
            },
        )
        batch = BatchInference(ctx, recommender, loaded, int(job["num_results"]), job.get("filter_arn"))
        return batch.run

    _run(ctx, arn, "batch-inference", build)


def run_batch_segment_job(ctx: Context, arn: str, recommender: Any) -> None:
    """The worker's handler for ``batch-segment`` jobs."""
    from pertinent.serving.segments import BatchSegments

    def build(job: Record) -> FileRunner:
        loaded = recommender.campaigns.for_version(
            job["solution_version_arn"], {"campaign_arn": arn, "campaign_config": {}}
        )
        segments = BatchSegments(ctx, recommender, loaded, int(job["num_results"]), job.get("filter_arn"))
        return segments.run

    _run(ctx, arn, "batch-segment", build)
