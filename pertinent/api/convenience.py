"""The API-Gateway-style endpoints common in Personalize tutorials (see docs/convenience-api.md).

``GET /getRecommendations?campaignArn=…&userId=…&numResults=…`` answers GetRecommendations' JSON;
``POST /data`` with ``{"userId", "itemId", "eventType", "sentAt", "trackingId"}`` records one event.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pertinent.api.errors import internal_error, json_response, rest_json_error
from pertinent.api.ownership import refuse_foreign_arns
from pertinent.api.rest_json import read_json
from pertinent.api.service_model import ServiceCodec
from pertinent.errors import InvalidInputException, PersonalizeError
from pertinent.events.ingest import EventIngest
from pertinent.serving.recommend import Recommender

QUERY_PARAMETERS = {
    "campaignArn": "campaign_arn",
    "userId": "user_id",
    "itemId": "item_id",
    "numResults": "num_results",
    "filterArn": "filter_arn",
}


def convenience_routes(
    recommender: Recommender, ingest: EventIngest, runtime: ServiceCodec, events: ServiceCodec
) -> list[Route]:
    async def get_recommendations(request: Request) -> Response:
        try:
            unknown = sorted(set(request.query_params) - set(QUERY_PARAMETERS))
            if unknown:
                raise InvalidInputException(
                    f"Unknown query parameter {unknown[0]!r}; use {sorted(QUERY_PARAMETERS)}."
                )
            body: dict[str, Any] = {k: v for k, v in request.query_params.items()}
            if "numResults" in body:
                try:
                    body["numResults"] = int(body["numResults"])
                except ValueError:
                    raise InvalidInputException("numResults must be an integer.") from None
            kwargs = runtime.decode_input("GetRecommendations", body)
            refuse_foreign_arns(kwargs)
            result = await run_in_threadpool(recommender.get_recommendations, **kwargs)
            return json_response(runtime.encode_output("GetRecommendations", result), "application/json")
        except PersonalizeError as exc:
            return rest_json_error(exc)
        except Exception as exc:
            return internal_error(exc, rest=True)

    async def post_data(request: Request) -> Response:
        try:
            data = await read_json(request)
            if not isinstance(data, dict):
                raise InvalidInputException("The body must be a JSON object.")
            required = ("userId", "itemId", "eventType", "trackingId")
            missing = [k for k in required if not data.get(k)]
            if missing:
                raise InvalidInputException(
                    f"Missing {', '.join(missing)}; the body needs {', '.join(required)}."
                )
            extra = sorted(set(data) - {*required, "sentAt", "sessionId", "eventValue"})
            if extra:
                raise InvalidInputException(f"Unknown field {extra[0]!r}.")
            event: dict[str, Any] = {
                "eventType": data["eventType"],
                "itemId": data["itemId"],
                "sentAt": data.get("sentAt", time.time()),
            }
            if "eventValue" in data:
                event["eventValue"] = data["eventValue"]
            body = {
                "trackingId": data["trackingId"],
                "userId": data["userId"],
                "sessionId": data.get("sessionId") or data["userId"],
                "eventList": [event],
            }
            kwargs = events.decode_input("PutEvents", body)
            refuse_foreign_arns(kwargs)
            await run_in_threadpool(ingest.put_events, **kwargs)
            return json_response({"status": "recorded"}, "application/json")
        except PersonalizeError as exc:
            return rest_json_error(exc)
        except Exception as exc:
            return internal_error(exc, rest=True)

    return [
        Route("/getRecommendations", get_recommendations, methods=["GET"]),
        Route("/data", post_data, methods=["POST"]),
    ]
