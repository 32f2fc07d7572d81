"""Dataset import and export jobs: Create/Describe/List, queued for the worker."""

from __future__ import annotations

from pertinent.control.common import (
    Operation,
    Record,
    insert_new,
    new_record,
    paginate,
    require,
    require_usable,
    tags_to_dict,
)
from pertinent.control.context import Context
from pertinent.datasets.locations import check_location
from pertinent.errors import InvalidInputException, LimitExceededException

IMPORT = "dataset-import-job"
EXPORT = "dataset-export-job"


def create_dataset_import_job(
    ctx: Context,
    job_name: str,
    dataset_arn: str,
    data_source: Record,
    role_arn: str | None = None,
    tags: list[Record] | None = None,
    import_mode: str | None = None,
    publish_attribution_metrics_to_s3: bool | None = None,
) -> Record:
    dataset = require_usable(ctx, "dataset", dataset_arn)
    location = data_source.get("data_location")
    if not location:
        raise InvalidInputException("dataSource.dataLocation is required.")
    check_location(location, ctx.location_policy(reading=True))
    mode = import_mode or "FULL"
    if mode == "INCREMENTAL" and not dataset.get("rows_total"):
        raise InvalidInputException(
            "INCREMENTAL import is allowed only after a FULL import has put data in the dataset."
        )
    if ctx.store.pending_jobs("import") >= ctx.settings.max_import_jobs_in_progress:
        raise LimitExceededException("More than 5 resources with PENDING or IN_PROGRESS status.")
    arn = ctx.arn(IMPORT, job_name)
    record = new_record(
        ctx,
        job_name=job_name,
        dataset_import_job_arn=arn,
        dataset_arn=dataset_arn,
        data_source={"data_location": location},
        role_arn=role_arn,
        import_mode=mode,
        publish_attribution_metrics_to_s3=publish_attribution_metrics_to_s3,
        tags=tags_to_dict(tags),
    )
    insert_new(ctx, IMPORT, arn, record, parent_arn=dataset_arn, job="import")
    return {"dataset_import_job_arn": arn}


def describe_dataset_import_job(ctx: Context, dataset_import_job_arn: str) -> Record:
    return {"dataset_import_job": require(ctx, IMPORT, dataset_import_job_arn)}


def list_dataset_import_jobs(
    ctx: Context,
    dataset_arn: str | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> Record:
    page, token = paginate(ctx, IMPORT, dataset_arn, next_token, max_results)
    return {"dataset_import_jobs": page, "next_token": token}


def create_dataset_export_job(
    ctx: Context,
    job_name: str,
    dataset_arn: str,
    role_arn: str,
    job_output: Record,
    ingestion_mode: str | None = None,
    tags: list[Record] | None = None,
) -> Record:
    require_usable(ctx, "dataset", dataset_arn)
    check_location(job_output["s3_data_destination"]["path"], ctx.location_policy(), writing=True)
    arn = ctx.arn(EXPORT, job_name)
    record = new_record(
        ctx,
        job_name=job_name,
        dataset_export_job_arn=arn,
        dataset_arn=dataset_arn,
        ingestion_mode=ingestion_mode or "PUT",
        role_arn=role_arn,
        job_output=job_output,
        tags=tags_to_dict(tags),
    )
    insert_new(ctx, EXPORT, arn, record, parent_arn=dataset_arn, job="export")
    return {"dataset_export_job_arn": arn}


def describe_dataset_export_job(ctx: Context, dataset_export_job_arn: str) -> Record:
    return {"dataset_export_job": require(ctx, EXPORT, dataset_export_job_arn)}


def list_dataset_export_jobs(
    ctx: Context,
    dataset_arn: str | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> Record:
    page, token = paginate(ctx, EXPORT, dataset_arn, next_token, max_results)
    return {"dataset_export_jobs": page, "next_token": token}


OPERATIONS: dict[str, Operation] = {
    "CreateDatasetImportJob": create_dataset_import_job,
    "DescribeDatasetImportJob": describe_dataset_import_job,
    "ListDatasetImportJobs": list_dataset_import_jobs,
    "CreateDatasetExportJob": create_dataset_export_job,
    "DescribeDatasetExportJob": describe_dataset_export_job,
    "ListDatasetExportJobs": list_dataset_export_jobs,
}
