"""``GET /insights/{dataset group name}``: the group's data insights as JSON (a native endpoint; Personalize
shows them only in its console)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pertinent.api.errors import internal_error, json_response, rest_json_error
from pertinent.control.context import Context
from pertinent.control.insights import dataset_group_insights
from pertinent.errors import PersonalizeError


def insights_routes(ctx: Context) -> list[Route]:
    async def insights(request: Request) -> Response:
        try:
            arn = ctx.arn("dataset-group", request.path_params["group"])
            result = await run_in_threadpool(dataset_group_insights, ctx, arn)
            return json_response(result, "application/json")
        except PersonalizeError as exc:
            return rest_json_error(exc)
        except Exception as exc:
            return internal_error(exc, rest=True)

    return [Route("/insights/{group}", insights, methods=["GET"])]
