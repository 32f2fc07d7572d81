"""``GET /console/api/status?arn=…``: the lifecycle of one resource, polled by pages while a job runs.

The script on a page with in-flight resources (training versions, running imports, campaigns being
created) updates their status and progress bars in place, and reloads the page once one has finished so
the finished state (metrics, row counts, failure reasons) is rendered by the server.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from pertinent.console.base import Console, JsonBody, text_param
from pertinent.errors import ResourceNotFoundException
from pertinent.resources.status import IN_FLIGHT

#: the record fields a watcher may show; nothing else of the record leaves the server this way
FIELDS = (
    "status",
    "training_progress",
    "job_progress",
    "rows_read",
    "failure_reason",
    "num_deleted",
    "last_updated_date_time",
)


def status_api(console: Console, request: Request, body: JsonBody) -> JsonBody:
    arn = text_param(request.query_params, "arn", required=True, limit=512)
    record = console.ctx.store.get(arn)
    if record is None:
        raise ResourceNotFoundException(f"Could not find a resource with ARN {arn}.")
    status = record.get("status")
    # (a data deletion job has its own lifecycle: PENDING → IN_PROGRESS → COMPLETED | FAILED)
    answer: JsonBody = {"arn": arn, "in_flight": status in IN_FLIGHT or status in ("PENDING", "IN_PROGRESS")}
    answer.update({k: record[k] for k in FIELDS if k in record})
    return answer


def routes(console: Console) -> list[BaseRoute]:
    return [Route("/console/api/status", console.api(status_api), methods=["GET"])]
