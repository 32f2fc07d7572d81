"""Who is asking: the account and region of the request being served (see docs/security.md).

The API edge verifies each request (SigV4 or a console session) and runs the rest of the request inside
:func:`acting_as`. Everything below reads :func:`current_caller`: :class:`~pertinent.control.Context` builds
ARNs with the caller's account and region, and the metadata store answers only the caller's resources. So a
new operation is isolated by default: it cannot see another account's records unless it bypasses the store.

Outside a request (the job worker, the CLI, tests that call the store directly) there is no caller and the
store is unscoped — work there is on records whose ARNs were already checked when the request came in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

#: the ARN prefix of AWS-owned resources (recipes): readable by every account
AWS_OWNED_PREFIX = "arn:aws:personalize:::"


@dataclass(frozen=True)
class Caller:
    """The verified identity of one request: its account, the region it signed for, and the key used."""

    account_id: str
    region: str
    access_key_id: str | None = None
    #: the server's operator (the ``/metrics`` bearer token): owns no resources, reads every account's figures
    operator: bool = False

    @property
    def arn_prefix(self) -> str:
        """Every ARN this caller owns starts with this."""
        return f"arn:aws:personalize:{self.region}:{self.account_id}:"

    def owns(self, arn: str) -> bool:
        return arn.startswith(self.arn_prefix)

    @classmethod
    def owner_of(cls, arn: str) -> Caller | None:
        """The account and region an ARN belongs to (None for a string that is not a Personalize ARN)."""
        parts = arn.split(":", 5)
        if len(parts) < 6 or parts[0] != "arn" or parts[2] != "personalize" or not parts[4]:
            return None
        return cls(parts[4], parts[3])

    def may_read(self, arn: str) -> bool:
        """Own resources and AWS-owned ones (recipes)."""
        return arn.startswith((self.arn_prefix, AWS_OWNED_PREFIX))


# A request-scoped variable (not process state): set by the API edge per request, copied into the thread
# pool with the request's context, unset in the worker's threads.
_CALLER: ContextVar[Caller | None] = ContextVar("pertinent_caller", default=None)


def current_caller() -> Caller | None:
    """The caller of the request being served, or None outside a request."""
    return _CALLER.get()


@contextlib.contextmanager
def acting_as(caller: Caller | None) -> Iterator[None]:
    """Run the body as ``caller`` (None: unscoped, as the worker runs)."""
    token = _CALLER.set(caller)
    try:
        yield
    finally:
        _CALLER.reset(token)
