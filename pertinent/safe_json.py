"""JSON as a network service must read it: bounded nesting, no lone surrogates, no NaN/Infinity.

Python's :func:`json.loads` accepts ``NaN``, nests until the interpreter's recursion limit (then raises
RecursionError), turns ``"\\ud800"`` into a string that cannot be encoded back to UTF-8, and refuses integers
over 4300 digits with a bare ValueError. :func:`problem` finds each of these so every surface can answer
400 in its own error format instead of failing later with a 500.
"""

from __future__ import annotations

import json
import re
from typing import Any

DEFAULT_MAX_DEPTH = 64

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class UnsafeJson(ValueError):
    """A body that parses but must not be used (too deep, lone surrogates, NaN) or cannot be parsed."""


def _no_constants(name: str) -> Any:
    raise UnsafeJson(f"{name} is not a JSON number")


def loads(raw: bytes | str, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Parse ``raw`` strictly; UnsafeJson (a ValueError) with a short message on any problem."""
    try:
        value = json.loads(raw, parse_constant=_no_constants)
    except UnsafeJson:
        raise
    except RecursionError:
        raise UnsafeJson(f"JSON nesting is deeper than {max_depth} levels") from None
    except UnicodeDecodeError:
        raise UnsafeJson("the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise UnsafeJson(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except ValueError as exc:  # e.g. an integer longer than Python's 4300-digit conversion limit
        raise UnsafeJson(f"not usable JSON ({str(exc)[:80]})") from None
    raw_bytes = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    _check(value, max_depth, surrogates=bool(_SURROGATE_ESCAPE.search(raw_bytes)))
    return value


def _check(value: Any, max_depth: int, surrogates: bool) -> None:
    """Depth (iteratively, so a deep value cannot overflow the stack here) and, when the raw text had
    surrogate escapes, that every string and key is valid UTF-16 (pairs are fine, lone halves are not)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if depth > max_depth:
                raise UnsafeJson(f"JSON nesting is deeper than {max_depth} levels")
            for key, child in node.items():
                if surrogates and _LONE_SURROGATE.search(key):
                    raise UnsafeJson("a JSON key contains an unpaired UTF-16 surrogate (\\ud800-\\udfff)")
                stack.append((child, depth + 1))
        elif isinstance(node, list):
            if depth > max_depth:
                raise UnsafeJson(f"JSON nesting is deeper than {max_depth} levels")
            stack.extend((child, depth + 1) for child in node)
        elif surrogates and isinstance(node, str) and _LONE_SURROGATE.search(node):
            raise UnsafeJson("a JSON string contains an unpaired UTF-16 surrogate (\\ud800-\\udfff)")


def problem(raw: bytes, max_depth: int = DEFAULT_MAX_DEPTH) -> str | None:
    """Why ``raw`` must be refused, or None when it is fine *or* simply not JSON (the handler then
    reports its own parse error)."""
    try:
        loads(raw, max_depth)
    except UnsafeJson as exc:
        message = str(exc)
        return None if message.startswith(("not valid JSON", "the body is not")) else message
    return None
