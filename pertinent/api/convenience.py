"""The API-Gateway-style endpoints common in Personalize tutorials (see docs/convenience-api.md).

``GET /getRecommendations?campaignArn=…&userId=…&numResults=…`` answers GetRecommendations' JSON;
``POST /data`` with ``{"userId", "itemId", "eventType", "sentAt", "trackingId"}`` records one event; it also
takes the body of AWS's real-time blog (API Gateway in front of a Kinesis stream), ``{"stream-name": …,
"Data": {"userId", "interactions", "itemId", "trackingId", "eventType", "sentAt"}, "PartitionKey": …}``,
records ``interactions`` events and answers as its Lambda does: ``{"Message": "Event sent successfully",
"data": {…}}``.
"""

from __future__ import annotations

import json
import time
import uuid
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

#: the event fields ``POST /data`` reads; ``interactions`` is how many times the interaction happened
DATA_REQUIRED = ("userId", "itemId", "eventType", "trackingId")
DATA_OPTIONAL = ("sentAt", "sessionId", "eventValue", "interactions")
#: the Kinesis ``PutRecord`` envelope of the blog's body: the stream and partition key are not needed here
KINESIS_ENVELOPE = ("stream-name", "Data", "PartitionKey")
MAX_INTERACTIONS = 100
EVENTS_PER_CALL = 10  # PutEvents' own limit
_EVENT_IDS = uuid.UUID("0b6f4f0e-8f3a-4d52-9c1e-3c1d2f6a7b80")


def _epoch(value: Any) -> float:
    """``sentAt`` as epoch seconds: a number or a numeric string, as the blog's body has it."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidInputException("sentAt must be epoch seconds (a number or a numeric string).")
    try:
        return float(value)
    except ValueError:
        raise InvalidInputException(f"sentAt must be epoch seconds, not {value!r}.") from None


def _count(value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_INTERACTIONS:
        raise InvalidInputException(
            f"interactions must be a whole number from 1 to {MAX_INTERACTIONS}, not {value!r}."
        )
    return value


def data_event_calls(body: Any) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The PutEvents bodies one ``POST /data`` body asks for, and the blog's ``Data`` object if it used
    the blog's envelope (None for the flat body)."""
    if not isinstance(body, dict):
        raise InvalidInputException("The body must be a JSON object.")
    envelope = "Data" in body
    if envelope:
        extra = sorted(set(body) - set(KINESIS_ENVELOPE))
        if extra:
            raise InvalidInputException(
                f"Unknown field {extra[0]!r}; the body has {', '.join(KINESIS_ENVELOPE)}."
            )
        for key in ("stream-name", "PartitionKey"):
            if key in body and not isinstance(body[key], str):
                raise InvalidInputException(f"{key} must be a string.")
        data = body["Data"]
        if not isinstance(data, dict):
            raise InvalidInputException("Data must be a JSON object with the event's fields.")
    else:
        data = body
    missing = [k for k in DATA_REQUIRED if not data.get(k)]
    if missing:
        raise InvalidInputException(
            f"Missing {', '.join(missing)}; the body needs {', '.join(DATA_REQUIRED)}."
        )
    extra = sorted(set(data) - {*DATA_REQUIRED, *DATA_OPTIONAL})
    if extra:
        raise InvalidInputException(f"Unknown field {extra[0]!r}.")
    event: dict[str, Any] = {
        "eventType": data["eventType"],
        "itemId": data["itemId"],
        "sentAt": _epoch(data["sentAt"]) if "sentAt" in data else time.time(),
    }
    if "eventValue" in data:
        event["eventValue"] = data["eventValue"]
    times = _count(data.get("interactions", 1))
    events = [dict(event) for _ in range(times)]
    if times > 1:  # N distinct events, with IDs that depend only on the body (stable across retries)
        seed = uuid.uuid5(_EVENT_IDS, json.dumps(data, sort_keys=True, default=str))
        for n, each in enumerate(events, start=1):
            each["eventId"] = f"{seed}-{n}"
    calls = [
        {
            "trackingId": data["trackingId"],
            "userId": data["userId"],
            "sessionId": data.get("sessionId") or data["userId"],
            "eventList": events[start : start + EVENTS_PER_CALL],
        }
        for start in range(0, times, EVENTS_PER_CALL)
    ]
    return calls, data if envelope else None


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
            calls, blog_data = data_event_calls(await read_json(request))
            decoded = [events.decode_input("PutEvents", call) for call in calls]  # all checked first
            for kwargs in decoded:
                refuse_foreign_arns(kwargs)
            for kwargs in decoded:
                await run_in_threadpool(ingest.put_events, **kwargs)
            if blog_data is not None:
                return json_response(
                    {"Message": "Event sent successfully", "data": blog_data}, "application/json"
                )
            return json_response({"status": "recorded"}, "application/json")
        except PersonalizeError as exc:
            return rest_json_error(exc)
        except Exception as exc:
            return internal_error(exc, rest=True)

    return [
        Route("/getRecommendations", get_recommendations, methods=["GET"]),
        Route("/data", post_data, methods=["POST"]),
    ]
