"""Encode exceptions exactly as AWS does, so boto3 raises ``client.exceptions.<Code>``.

JSON 1.1 control plane: HTTP 400, body ``{"__type": code, "message": …}``.
REST-JSON runtime and events: the class's HTTP status, header ``x-amzn-ErrorType``, body ``{"message": …}``.
"""

from __future__ import annotations

import json
import logging
import uuid

from starlette.responses import Response

from pertinent.errors import PersonalizeError

log = logging.getLogger(__name__)

AMZ_JSON = "application/x-amz-json-1.1"


def request_id() -> str:
    return str(uuid.uuid4())


def json_response(
    body: object, media_type: str, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    all_headers = {"x-amzn-RequestId": request_id(), **(headers or {})}
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type=media_type,
        headers=all_headers,
    )


def control_plane_error(exc: PersonalizeError) -> Response:
    return json_response(
        {"__type": exc.code, "message": exc.message},
        AMZ_JSON,
        status=400,
        headers={"x-amzn-ErrorType": exc.code},  # as AWS sends it too; the metrics read it
    )


def rest_json_error(exc: PersonalizeError) -> Response:
    return json_response(
        {"message": exc.message, "__type": exc.code},
        "application/json",
        status=exc.http_status,
        headers={"x-amzn-ErrorType": exc.code},
    )


def internal_error(exc: BaseException, rest: bool) -> Response:
    log.error("internal error", exc_info=exc)
    body = {"__type": "InternalFailure", "message": f"Internal error: {type(exc).__name__}"}
    headers = {"x-amzn-ErrorType": "InternalFailure"}
    return json_response(body, "application/json" if rest else AMZ_JSON, status=500, headers=headers)
