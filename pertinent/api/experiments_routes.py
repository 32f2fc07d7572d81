"""Native A/B experiments over HTTP (docs/experiments.md), JSON in and out, errors as the runtime's REST-JSON
(``{"__type", "message"}`` with ``x-amzn-ErrorType``):

``POST /experiments`` · ``GET /experiments[?datasetGroupArn=]`` · ``GET /experiments/{name}`` ·
``POST /experiments/{name}/stop`` · ``POST /experiments/{name}/recommendations`` (GetRecommendations's
request members; answers from the user's arm) · ``GET /experiments/{name}/results``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pertinent.api.errors import internal_error, json_response, rest_json_error
from pertinent.api.rest_json import read_json
from pertinent.api.service_model import ServiceCodec
from pertinent.control import experiments
from pertinent.control.context import Context
from pertinent.errors import InvalidInputException, PersonalizeError
from pertinent.resources.recommendation_ids import new_recommendation_id
from pertinent.serving.recommend import Recommender

_TIMES = ("creation_date_time", "last_updated_date_time", "stopped_date_time")


def public(record: dict[str, Any]) -> dict[str, Any]:
    """An experiment record in camelCase, as the API shows it."""
    out: dict[str, Any] = {
        "name": record["name"],
        "experimentArn": record["experiment_arn"],
        "datasetGroupArn": record["dataset_group_arn"],
        "status": record["status"],
        "arms": [
            {
                "name": a["name"],
                ("campaignArn" if a["kind"] == "campaign" else "recommenderArn"): a["arn"],
                "weight": a["weight"],
            }
            for a in record["arms"]
        ],
    }
    for key in _TIMES:
        if key in record:
            parts = key.split("_")
            out[parts[0] + "".join(p.title() for p in parts[1:])] = record[key]
    if record.get("metrics"):
        out["metrics"] = [
            {"metricName": m["metric_name"], "eventType": m["event_type"], "expression": m["expression"]}
            for m in record["metrics"]
        ]
    return out


def _guard(call: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return json_response(await call(request), "application/json")
        except PersonalizeError as exc:
            return rest_json_error(exc)
        except Exception as exc:
            return internal_error(exc, rest=True)

    return endpoint


async def _object(request: Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise InvalidInputException("The request body must be a JSON object.")
    return body


def experiment_routes(ctx: Context, recommender: Recommender, runtime_codec: ServiceCodec) -> list[Route]:
    async def create_or_list(request: Request) -> Any:
        if request.method == "GET":
            group = request.query_params.get("datasetGroupArn")
            records = await run_in_threadpool(experiments.list_experiments, ctx, group)
            return {"experiments": [public(r) for r in records]}
        body = await _object(request)
        record = await run_in_threadpool(experiments.create_experiment, ctx, body)
        return {"experimentArn": record["experiment_arn"]}

    async def describe(request: Request) -> Any:
        record = await run_in_threadpool(experiments.get_experiment, ctx, request.path_params["name"])
        return {"experiment": public(record)}

    async def stop(request: Request) -> Any:
        record = await run_in_threadpool(experiments.stop_experiment, ctx, request.path_params["name"])
        return {"experiment": public(record)}

    async def results(request: Request) -> Any:
        record = await run_in_threadpool(experiments.get_experiment, ctx, request.path_params["name"])
        return await run_in_threadpool(experiments.results, ctx, record)

    def serve(name: str, body: dict[str, Any]) -> dict[str, Any]:
        record = experiments.get_experiment(ctx, name)
        if record["status"] != "ACTIVE":
            raise InvalidInputException(
                f"Experiment {name} is {record['status']}; it no longer serves requests."
            )
        for member in ("campaignArn", "recommenderArn"):
            if member in body:
                raise InvalidInputException(f"{member} is set by the experiment's arms; leave it out.")
        kwargs = runtime_codec.decode_input("GetRecommendations", body)
        user_id = kwargs.get("user_id")
        if not user_id:
            raise InvalidInputException("userId is required: the experiment assigns users to arms.")
        arm = experiments.assign(record, user_id)
        source = record["arms"][arm]
        key = "campaign_arn" if source["kind"] == "campaign" else "recommender_arn"
        answer = recommender.get_recommendations(**kwargs, **{key: source["arn"]})
        answer["recommendation_id"] = new_recommendation_id(source["arn"], record["experiment_arn"], arm)
        experiments.log_exposure(ctx, record, arm, user_id)
        out = runtime_codec.encode_output("GetRecommendations", answer)
        out["arm"] = source["name"]
        return out

    async def recommendations(request: Request) -> Any:
        body = await _object(request)
        return await run_in_threadpool(serve, request.path_params["name"], body)

    return [
        Route("/experiments", _guard(create_or_list), methods=["GET", "POST"]),
        Route("/experiments/{name}", _guard(describe), methods=["GET"]),
        Route("/experiments/{name}/stop", _guard(stop), methods=["POST"]),
        Route("/experiments/{name}/recommendations", _guard(recommendations), methods=["POST"]),
        Route("/experiments/{name}/results", _guard(results), methods=["GET"]),
    ]
