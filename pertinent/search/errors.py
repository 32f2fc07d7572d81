"""The errors a search client can see, shaped like OpenSearch's REST error body.

OpenSearch answers a bad request with::

    {"error": {"root_cause": [{"type": "parsing_exception", "reason": "unknown query [foo]"}],
               "type": "parsing_exception", "reason": "unknown query [foo]"},
     "status": 400}

:class:`SearchRequestError` carries exactly those parts (``type``, ``reason``, ``status``) plus the optional
metadata OpenSearch attaches to pipeline configuration errors (``processor_type``, ``processor_tag``,
``property_name``) and an optional cause, and renders the body with :meth:`SearchRequestError.to_dict`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class SearchRequestError(Exception):
    """A search, pipeline or index request that cannot be served, as OpenSearch would report it.

    ``type`` is OpenSearch's snake-case exception name (``parsing_exception``, ``parse_exception``,
    ``illegal_argument_exception``, ``query_shard_exception`` …), ``reason`` its message, ``status`` the HTTP
    status. ``metadata`` holds extra top-level keys of the error object (for example ``property_name``),
    ``caused_by`` the error this one wraps.
    """

    def __init__(
        self,
        type: str,
        reason: str,
        *,
        status: int = 400,
        metadata: Mapping[str, str] | None = None,
        caused_by: SearchRequestError | None = None,
    ) -> None:
        super().__init__(f"{type}: {reason}")
        self.type = type
        self.reason = reason
        self.status = status
        self.metadata: dict[str, str] = dict(metadata or {})
        self.caused_by = caused_by

    def _cause_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "reason": self.reason, **self.metadata}
        if self.caused_by is not None:
            body["caused_by"] = self.caused_by._cause_dict()
        return body

    def root_cause(self) -> SearchRequestError:
        """The innermost error of the ``caused_by`` chain (this one when there is no cause)."""
        error = self
        while error.caused_by is not None:
            error = error.caused_by
        return error

    def to_dict(self) -> dict[str, Any]:
        """The REST body: ``{"error": {"root_cause": [...], "type", "reason", ...}, "status": N}``."""
        root = self.root_cause()
        root_body = {"type": root.type, "reason": root.reason, **root.metadata}
        return {"error": {"root_cause": [root_body], **self._cause_dict()}, "status": self.status}


class SearchPipelineProcessingError(SearchRequestError):
    """A response processor failed and its processor does not ignore failures.

    Mirrors OpenSearch's ``SearchPipelineProcessingException``, a *wrapper* exception: OpenSearch renders a
    wrapper as the error it wraps (``OpenSearchException.toXContent`` unwraps it), so the REST body and the
    status are exactly the cause's, for example ``parse_exception`` / 400 for a missing ``user_id``. The
    wrapper only tells Python callers that the failure happened in a pipeline. ``pipeline_id`` and
    ``processor`` (``type`` or ``type:tag``) say where.
    """

    def __init__(self, cause: SearchRequestError, *, pipeline_id: str = "", processor: str = "") -> None:
        super().__init__(
            "search_pipeline_processing_exception",
            f"{cause.type}: {cause.reason}",
            status=cause.status,
            caused_by=cause,
        )
        self.cause = cause
        self.pipeline_id = pipeline_id
        self.processor = processor

    def to_dict(self) -> dict[str, Any]:
        """The REST body OpenSearch sends: the wrapped error's own body."""
        return self.cause.to_dict()
