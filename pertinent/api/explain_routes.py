"""``GET /explain?campaignArn=…&userId=…&itemId=…`` (optionally ``&context=KEY:VALUE,…``): why an item is
recommended (a native endpoint, :mod:`pertinent.serving.explain`)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pertinent.api.errors import internal_error, json_response, rest_json_error
from pertinent.api.ownership import refuse_foreign_arns
from pertinent.errors import InvalidInputException, PersonalizeError
from pertinent.serving.explain import explain
from pertinent.serving.recommend import Recommender

PARAMETERS = ("campaignArn", "userId", "itemId", "context")


def explain_routes(recommender: Recommender) -> list[Route]:
    async def explain_endpoint(request: Request) -> Response:
        try:
            query = request.query_params
            unknown = sorted(set(query) - set(PARAMETERS))
            if unknown:
                raise InvalidInputException(
                    f"Unknown query parameter {unknown[0]!r}; use {list(PARAMETERS)}."
                )
            context: dict[str, str] = {}
            for part in filter(None, (query.get("context") or "").split(",")):
                key, sep, value = part.partition(":")
                if not sep or not key.strip():
                    raise InvalidInputException("context must look like KEY:VALUE,KEY:VALUE.")
                context[key.strip()] = value.strip()
            arn = query.get("campaignArn") or ""
            refuse_foreign_arns(arn)
            result = await run_in_threadpool(
                explain, recommender, arn, query.get("userId") or "", query.get("itemId") or "", context
            )
            return json_response(result, "application/json")
        except PersonalizeError as exc:
            return rest_json_error(exc)
        except Exception as exc:
            return internal_error(exc, rest=True)

    return [Route("/explain", explain_endpoint, methods=["GET"])]
