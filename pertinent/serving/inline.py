"""Answering a request on the event loop, and stepping aside when something slow is due.

A warm GetRecommendations costs well under a millisecond of Python; handing it to a worker thread and back
costs a good share of that again (two thread switches, the GIL handed over twice). So the runtime endpoints
call their handler directly on the event loop inside :func:`inline`, and every place that may take long —
loading a model, building a catalog, the users' or interactions' tables, item features, or waiting for
another thread that builds one — first calls :func:`about_to_block`. On the event loop that raises
:class:`NeedsThread` before anything is changed, and the endpoint runs the same request again in a worker
thread, where :func:`about_to_block` does nothing. So the loop never stalls on a build, and the answer is
the one the thread would have given.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

_INLINE: contextvars.ContextVar[bool] = contextvars.ContextVar("pertinent_inline", default=False)


class NeedsThread(Exception):  # a signal to the endpoint, not an error
    """The request must wait for something slow: run it again in a worker thread."""


@contextlib.contextmanager
def inline() -> Iterator[None]:
    """Mark the code inside as running on the event loop."""
    token = _INLINE.set(True)
    try:
        yield
    finally:
        _INLINE.reset(token)


def about_to_block() -> None:
    """Call before anything slow: raises :class:`NeedsThread` on the event loop, nothing elsewhere."""
    if _INLINE.get():
        raise NeedsThread
