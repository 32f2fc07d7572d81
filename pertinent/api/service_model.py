"""Request validation and the camelCase ⇄ snake_case wire codec, generated from botocore's own models.

pertinent speaks Amazon Personalize's wire protocol, so the authoritative description of every request and
response is the service model botocore ships (``personalize``, ``personalize-runtime`` and
``personalize-events``, ``service-2.json``). :class:`ServiceCodec` compiles one of those models, once, into a
tree of small per-shape codecs and then does two jobs on every request:

``decode_input(operation, body)``
    Validates a decoded JSON request body against the operation's input shape and returns it with
    **structure member names in snake_case** (``datasetGroupArn`` → ``dataset_group_arn``,
    ``performHPO`` → ``perform_hpo``). Map keys are kept exactly as sent (hyperparameter names,
    ``filterValues``, ``context``, ``excludedDatasetColumns`` …), list items are converted by their member
    shape, timestamps come out as epoch-second ``float`` and ``jsonvalue`` members (``properties`` in
    personalize-events) stay JSON *strings* for the caller to ``json.loads``. Members sent as JSON ``null``
    are treated as absent, as AWS does; absent members are simply missing from the result (no defaults are
    filled in here).

``encode_output(operation, result)``
    Turns a snake_case result (dicts, lists, ``float``/``datetime`` timestamps, numpy scalars) into wire
    JSON for the output shape: keys go back to the model's real member names (``filters`` → ``Filters`` in
    ListFilters, ``perform_hpo`` → ``performHPO``), keys the output shape does not have are dropped
    (internal fields), ``None`` values are dropped and map keys are kept.

Snake-case rule
    One deterministic rule, :func:`snake_case`: an underscore goes before every capital that follows a
    lower-case letter or digit, and before the last capital of an acronym that is followed by a lower-case
    letter; then everything is lower-cased (``performHPO`` → ``perform_hpo``, ``tunedHPOParams`` →
    ``tuned_hpo_params``, ``s3DataSource`` → ``s3_data_source``, ``Filters`` → ``filters``). It agrees
    with botocore's ``xform_name`` on every member of the three models. The reverse direction never
    guesses: each structure has its own snake → wire table built from the model.

Validation (everything the model says, including what botocore leaves to the server)
    The body must be a JSON object. Then, recursively: unknown members, required members, types
    (``string``, ``integer``/``long`` — JSON ``true`` is not an integer, integral floats such as ``5.0``
    are accepted —, ``float``/``double``, ``boolean``, ``timestamp`` as epoch seconds or an ISO-8601
    string, ``list``, ``map``, ``structure``), ``min``/``max`` on string length (counted in UTF-16 code
    units as Java does), list/map size and numeric value, ``pattern`` and ``enum``. Model patterns are
    Java regular expressions; they are translated to Python ``re`` (``\\p{L}``, ``\\p{Z}``, ``\\p{N}``,
    ``\\p{ASCII}`` …, ASCII ``\\d``/``\\w``/``\\s``, Java's ``.`` that does not match line terminators)
    and must match the **whole** value, as Java's ``Pattern.matches`` does. Three model patterns
    backtrack catastrophically on adversarial input (up to seconds per value), so they are replaced by
    linear-time equivalents (see ``_LINEAR_EQUIVALENTS``; the tests prove the equivalence); in addition
    a string longer than its ``max`` is reported for its length only and not run through its pattern.
    One deliberate relaxation (:data:`DEFAULT_PATTERN_OVERRIDES`): ``S3Location`` also accepts local paths
    and ``file://`` URLs, which a self-hosted server reads; ``ServiceCodec(..., pattern_overrides={})``
    validates exactly as AWS's model says.

Error messages
    All violations are collected and raised as one :class:`~pertinent.errors.InvalidInputException` in
    AWS's (Coral's) style::

        2 validation errors detected: Value 'bad name!' at 'name' failed to satisfy constraint: Member
        must satisfy regular expression pattern: ^[a-zA-Z0-9][a-zA-Z0-9\\-_]*; Value null at
        'datasetGroupArn' failed to satisfy constraint: Member must not be null

    Paths use wire names: ``solutionConfig.algorithmHyperParameters``, ``eventList.1.member.sentAt``
    (1-based list index, as AWS does) and ``map.KEY`` for map values that are containers. As AWS does, a
    list of scalars is reported once at the list's path (``Member must satisfy constraint: [...]`` listing
    the item shape's constraints) and a map once for its keys (``Map keys must satisfy constraint:``) and
    once for its values (``Map value must satisfy constraint:``). Values are rendered as Java would
    (``[a, b]``, ``{k=v}``, ``1.0``); values of sensitive shapes (and containers holding any) are never
    echoed (``Value at 'filterExpression' failed …``). Decisions where AWS's exact behaviour is not
    observable from the model: an unknown member is reported as ``Unknown parameter at 'path.member':
    must be one of: …``; a type mismatch (which AWS reports as a ``SerializationException``) is reported
    as a constraint violation such as ``Member must be a string``; a body that is not a JSON object is
    ``InvalidInputException("Invalid request body: expected a JSON object, got …")``.

Everything is built once per service (:func:`load_codec` is cached); nothing here holds mutable
module-level state.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import json
import math
import re
import sys
import unicodedata
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, TypeAlias

from botocore.loaders import Loader
from botocore.model import ServiceModel, Shape

from pertinent.errors import InvalidInputException, UnknownOperationException
from pertinent.java_compat import java_double_to_string

__all__ = [
    "DEFAULT_PATTERN_OVERRIDES",
    "SERVICE_NAMES",
    "ServiceCodec",
    "all_operations",
    "java_regex_to_python",
    "load_codec",
    "load_service_model",
    "snake_case",
]

#: The three botocore service models pertinent implements.
SERVICE_NAMES: Final = ("personalize", "personalize-runtime", "personalize-events")

#: Deliberate departures from the model, by string shape name → replacement Java pattern (``None``: none).
#: ``S3Location`` (``dataLocation``, ``s3DataDestination.path`` …) is ``(s3|http|https)://.+`` at AWS; a
#: self-hosted server also reads local paths and ``file://`` URLs, so any single-line non-empty string
#: passes here and the control layer's ``check_location`` decides which schemes it can actually read.
DEFAULT_PATTERN_OVERRIDES: Final[Mapping[str, str | None]] = MappingProxyType({"S3Location": ".+"})

_INT32: Final = (-(2**31), 2**31 - 1)
_INT64: Final = (-(2**63), 2**63 - 1)


# --------------------------------------------------------------------------------------------------------
# Loading and naming
# --------------------------------------------------------------------------------------------------------


@functools.cache
def load_service_model(service_name: str) -> ServiceModel:
    """The botocore :class:`~botocore.model.ServiceModel` bundled for ``service_name`` (cached)."""
    if service_name not in SERVICE_NAMES:
        raise ValueError(f"unknown service {service_name!r}; expected one of {SERVICE_NAMES}")
    raw = Loader().load_service_model(service_name, "service-2")
    return ServiceModel(raw, service_name=service_name)


@functools.cache
def load_codec(service_name: str) -> ServiceCodec:
    """The :class:`ServiceCodec` for ``service_name``, built once per process."""
    return ServiceCodec(service_name)


def all_operations() -> dict[str, list[str]]:
    """Every operation of the three services: ``{service name: sorted operation names}``."""
    return {name: sorted(load_service_model(name).operation_names) for name in SERVICE_NAMES}


_SNAKE_BOUNDARY: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """The snake_case spelling of a model member name.

    ``datasetGroupArn`` → ``dataset_group_arn``, ``performHPO`` → ``perform_hpo``, ``hpoConfig`` →
    ``hpo_config``, ``tunedHPOParams`` → ``tuned_hpo_params``, ``s3DataSource`` → ``s3_data_source``,
    ``Filters`` → ``filters``.
    """
    return _SNAKE_BOUNDARY.sub("_", name).lower()


# --------------------------------------------------------------------------------------------------------
# Java regular expressions → Python ``re``
# --------------------------------------------------------------------------------------------------------

# What Java's ``.`` matches without DOTALL: anything but a line terminator.
_LINE_TERMINATORS: Final = "\\n\\r\\x85\\u2028\\u2029"
_JAVA_DOT: Final = f"[^{_LINE_TERMINATORS}]"

# Java's POSIX classes are US-ASCII only (no UNICODE_CHARACTER_CLASS flag); contents for use inside [...].
_POSIX_PUNCT: Final = "".join("\\" + c for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_POSIX_CLASSES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "ASCII": "\\x00-\\x7f",
        "Lower": "a-z",
        "Upper": "A-Z",
        "Alpha": "a-zA-Z",
        "Digit": "0-9",
        "Alnum": "a-zA-Z0-9",
        "Punct": _POSIX_PUNCT,
        "Graph": "a-zA-Z0-9" + _POSIX_PUNCT,
        "Print": "\\x20a-zA-Z0-9" + _POSIX_PUNCT,
        "Blank": " \\t",
        "Cntrl": "\\x00-\\x1f\\x7f",
        "XDigit": "0-9a-fA-F",
        "Space": " \\t\\n\\x0b\\f\\r",
    }
)

# Model patterns whose straightforward translation backtracks catastrophically (O(n²)–O(n³) on inputs
# within the model's max length: the events ``EventAttributionSource`` pattern takes ~2 s on a 1024-char
# value, the ``Arn`` pattern ~30 ms per ARN, up to 100 ARNs per request). Each is replaced by a
# linear-time Python pattern that accepts exactly the same strings; tests check the equivalence.
_NOT_TERMINATOR_OR_COLON: Final = f"[^:{_LINE_TERMINATORS}]"
_LINEAR_EQUIVALENTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        # Printable ASCII with at least one non-space: leading spaces, the first non-space, the rest.
        "^[\\x20-\\x7E]*[\\x21-\\x7E]+[\\x20-\\x7E]*$": "\\x20*+[\\x21-\\x7e][\\x20-\\x7e]*+",
        # After "personalize:" there must be two colons (take the first two) and then at least one char.
        "arn:([a-z\\d-]+):personalize:.*:.*:.+": (
            f"arn:[a-z0-9-]++:personalize:{_NOT_TERMINATOR_OR_COLON}*+:{_NOT_TERMINATOR_OR_COLON}*+:"
            f"{_JAVA_DOT}++"
        ),
        # No line terminator anywhere; the first ":kms:" after "arn:aws"; then ":<12 digits>:key/".
        "arn:aws.*:kms:.*:[0-9]{12}:key/.*": (
            f"(?=[^{_LINE_TERMINATORS}]*+\\Z)arn:aws(?:(?!:kms:).)*+:kms:(?:(?!:[0-9]{{12}}:key/).)*+"
            ":[0-9]{12}:key/.*"
        ),
    }
)


# Planes 4–13 are unassigned and planes 15–16 are private use (categories Cn/Co only, which no pattern
# may use); scanning just the rest keeps the one-off table build at ~60 ms instead of ~250 ms.
_SCANNED_CODE_POINTS: Final = ((0x0, 0x3FFFF), (0xE0000, 0xEFFFF))
_UNSCANNED_CATEGORIES: Final = frozenset({"C", "Cn", "Co"})


@functools.cache
def _unicode_category_ranges() -> Mapping[str, tuple[tuple[int, int], ...]]:
    """Code-point ranges of every two-letter Unicode general category (built once per process)."""
    ranges: dict[str, list[tuple[int, int]]] = {}
    for first, last in _SCANNED_CODE_POINTS:
        categories = list(map(unicodedata.category, map(chr, range(first, last + 1))))
        start, previous = first, categories[0]
        for offset, category in enumerate(categories):
            if category != previous:
                ranges.setdefault(previous, []).append((start, first + offset - 1))
                start, previous = first + offset, category
        ranges.setdefault(previous, []).append((start, last))
    return MappingProxyType({k: tuple(v) for k, v in ranges.items()})


@functools.cache
def _property_class_body(name: str) -> str:
    """Contents (for use inside ``[...]``) of the Java property class ``\\p{name}``."""
    if name in _POSIX_CLASSES:
        return _POSIX_CLASSES[name]
    category = name
    for prefix in ("general_category=", "gc=", "Is"):
        if category.startswith(prefix):
            category = category[len(prefix) :]
            break
    if category in _UNSCANNED_CATEGORIES:
        raise ValueError(f"unsupported Java property class \\p{{{name}}}")
    table = _unicode_category_ranges()
    if len(category) == 1 and category.isupper():
        spans = sorted(span for key, spans in table.items() if key[0] == category for span in spans)
    elif len(category) == 2 and category in table:
        spans = list(table[category])
    else:
        raise ValueError(f"unsupported Java property class \\p{{{name}}}")
    if not spans:
        raise ValueError(f"unsupported Java property class \\p{{{name}}}")
    merged: list[list[int]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return "".join(f"\\U{lo:08x}" if lo == hi else f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in merged)


def java_regex_to_python(pattern: str, *, linear: bool = True) -> str:
    """Translate a Java regular expression (as used in AWS models) to an equivalent Python ``re`` pattern.

    The result is meant to be compiled with :data:`re.ASCII` (Java's ``\\d``, ``\\w``, ``\\s`` and ``\\b``
    are ASCII-only) and used with ``fullmatch``. Supported beyond the common syntax: ``\\p{..}``/``\\P{..}``
    for POSIX classes, ``ASCII`` and Unicode general categories (``L``, ``Lu``, ``IsL``, ``gc=N`` …),
    ``\\Q..\\E`` quoting, ``\\z``/``\\Z``, named groups, and Java's ``.`` (no line terminators).
    Constructs Python cannot express (nested classes, ``&&`` intersections, scripts and blocks) raise
    :class:`ValueError`. With ``linear`` (the default), the known catastrophically-backtracking model
    patterns are replaced by their linear-time equivalents.
    """
    if linear and pattern in _LINEAR_EQUIVALENTS:
        return _LINEAR_EQUIVALENTS[pattern]
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        char = pattern[i]
        if char == "\\":
            if i + 1 >= n:
                raise ValueError(f"trailing backslash in {pattern!r}")
            escape = pattern[i + 1]
            if escape in "pP":
                if i + 2 < n and pattern[i + 2] == "{":
                    end = pattern.find("}", i + 3)
                    if end < 0:
                        raise ValueError(f"unterminated \\p{{ in {pattern!r}")
                    name, i = pattern[i + 3 : end], end + 1
                elif i + 2 < n:
                    name, i = pattern[i + 2], i + 3
                else:
                    raise ValueError(f"bad \\p in {pattern!r}")
                body = _property_class_body(name)
                if in_class:
                    if escape == "P":
                        raise ValueError(f"negated property class inside [...] in {pattern!r}")
                    out.append(body)
                else:
                    out.append(f"[{'^' if escape == 'P' else ''}{body}]")
                continue
            if escape == "Q":
                end = pattern.find("\\E", i + 2)
                literal = pattern[i + 2 : end if end >= 0 else n]
                out.append("".join("\\" + c if not c.isalnum() else c for c in literal))
                i = end + 2 if end >= 0 else n
                continue
            if escape == "z":
                out.append("\\Z")
            elif escape == "Z":
                out.append(f"(?=(?:\\r\\n|[{_LINE_TERMINATORS}])?\\Z)")
            elif escape in "hHvVRXGkgNcex" and not (escape == "x" and pattern[i + 2 : i + 3] != "{"):
                if escape == "e":
                    out.append("\\x1b")
                else:
                    raise ValueError(f"unsupported Java escape \\{escape} in {pattern!r}")
            else:
                out.append(char + escape)
            i += 2
            continue
        if in_class:
            if char == "[" or pattern.startswith("&&", i):
                raise ValueError(f"nested or intersected character classes in {pattern!r}")
            if char == "]":
                in_class = False
                out.append(char)
            elif char in "&~|":
                out.append("\\" + char)
            elif char == "-" and pattern.startswith("--", i):
                raise ValueError(f"ambiguous '--' in character class in {pattern!r}")
            else:
                out.append(char)
            i += 1
            continue
        if char == "[":
            negate = pattern.startswith("[^", i)
            start = i + (2 if negate else 1)
            if pattern.startswith("]", start):
                raise ValueError(f"empty or ']'-first character class in {pattern!r}")
            out.append("[^" if negate else "[")
            in_class = True
            i = start
            continue
        if char == ".":
            out.append(_JAVA_DOT)
        elif char == "(" and pattern.startswith("(?<", i) and pattern[i + 3 : i + 4].isalpha():
            out.append("(?P<")
            i += 3
            continue
        else:
            out.append(char)
        i += 1
    if in_class:
        raise ValueError(f"unterminated character class in {pattern!r}")
    return "".join(out)


@functools.cache
def _compile_java_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(java_regex_to_python(pattern), re.ASCII)


# --------------------------------------------------------------------------------------------------------
# Message helpers
# --------------------------------------------------------------------------------------------------------

# A path is a linked list built only as deep as the decoder goes: (parent, segment). A ``str`` segment is
# a structure member or map key; an ``int`` segment is a 0-based list index, rendered "N.member" (1-based).
_Path: TypeAlias = "tuple[_Path, str | int] | None"
_Errors: TypeAlias = list[str]


def _path_str(path: _Path) -> str:
    parts: list[str] = []
    while path is not None:
        path, segment = path
        parts.append(f"{segment + 1}.member" if isinstance(segment, int) else segment)
    return ".".join(reversed(parts))


def _render(value: Any, depth: int = 0) -> str:
    """A value as Coral's messages show it: Java ``toString`` of the deserialized value."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return java_double_to_string(value)
    if depth >= 8:
        return "..."
    if isinstance(value, Mapping):
        return (
            "{"
            + ", ".join(f"{_render(k, depth + 1)}={_render(v, depth + 1)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_render(v, depth + 1) for v in value) + "]"
    return str(value)


def _violation(value: Any, path: _Path, constraint: str, hide: bool) -> str:
    if value is None:
        subject = "Value null"
    elif hide:
        subject = "Value"
    else:
        subject = f"Value '{_render(value)}'"
    return f"{subject} at '{_path_str(path)}' failed to satisfy constraint: {constraint}"


def _summary(errors: _Errors) -> str:
    count = len(errors)
    return f"{count} validation error{'s' if count != 1 else ''} detected: " + "; ".join(errors)


_NOT_NULL: Final = "Member must not be null"
_INVALID: Final = object()  # a scalar conversion's "wrong JSON type" result


def _length_bounds(shape: Shape) -> tuple[int | None, int | None, list[str]]:
    """(min, max, descriptions) for a string/list/map shape, descriptions in Coral's order (max, min)."""
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    described: list[str] = []
    if hi is not None:
        described.append(f"Member must have length less than or equal to {int(hi)}")
    if lo is not None:
        described.append(f"Member must have length greater than or equal to {int(lo)}")
    return (None if lo is None else int(lo)), (None if hi is None else int(hi)), described


def _utf16_length(text: str) -> int:
    """``String.length()`` in Java: UTF-16 code units (an astral character counts twice)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


# --------------------------------------------------------------------------------------------------------
# Per-shape codecs
# --------------------------------------------------------------------------------------------------------

_Encoder: TypeAlias = Callable[[Any], Any]


class _Codec:
    """Validator/converter for one shape.

    ``decode`` validates a wire value, appends any violation messages to ``errors`` and returns the
    converted value; ``encoder`` converts a snake_case value back to wire JSON (``None``: identity).
    """

    __slots__ = ("hide", "type_name")

    type_name: str
    hide: bool  # never echo values of this shape (it is or contains a sensitive shape)

    def decode(self, value: Any, path: _Path, errors: _Errors) -> Any:
        raise NotImplementedError

    @property
    def encoder(self) -> _Encoder | None:
        return None


class _Scalar(_Codec):
    """A non-container shape: ``convert`` checks the JSON type, ``violations`` the model constraints."""

    __slots__ = ("constraints", "has_constraints", "type_message")

    constraints: list[str]  # descriptions of every constraint, for aggregated container messages

    def __init__(self, type_name: str, type_message: str, hide: bool) -> None:
        self.type_name = type_name
        self.type_message = type_message
        self.hide = hide
        self.constraints = []
        self.has_constraints = False

    def convert(self, value: Any) -> Any:
        """The Python value for a JSON value, or ``_INVALID`` when the JSON type is wrong."""
        raise NotImplementedError

    def violations(self, value: Any) -> list[str] | None:
        """Descriptions of the constraints a converted value breaks (``None`` when it breaks none)."""
        return None

    def is_valid(self, value: Any) -> bool:
        """Whether a converted value satisfies every constraint (the fast path of ``violations``)."""
        return not self.violations(value)

    def decode(self, value: Any, path: _Path, errors: _Errors) -> Any:
        converted = self.convert(value)
        if converted is _INVALID:
            errors.append(_violation(value, path, self.type_message, self.hide))
            return value
        if self.has_constraints:
            broken = self.violations(converted)
            if broken:
                errors.extend(_violation(converted, path, c, self.hide) for c in broken)
        return converted


class _String(_Scalar):
    __slots__ = (
        "enum",
        "enum_message",
        "hi",
        "jsonvalue",
        "lo",
        "max",
        "max_message",
        "min",
        "min_message",
        "pattern",
        "pattern_message",
    )

    def __init__(self, shape: Shape, hide: bool, jsonvalue: bool, raw_pattern: str | None) -> None:
        super().__init__("string", "Member must be a string", hide)
        self.jsonvalue = jsonvalue
        self.min, self.max, self.constraints = _length_bounds(shape)
        self.lo = 0 if self.min is None else self.min
        self.hi = sys.maxsize if self.max is None else self.max
        self.max_message = self.constraints[0] if self.max is not None else ""
        self.min_message = self.constraints[-1] if self.min is not None else ""
        self.pattern = None if raw_pattern is None else _compile_java_regex(raw_pattern)
        self.pattern_message = f"Member must satisfy regular expression pattern: {raw_pattern}"
        if raw_pattern is not None:
            self.constraints.append(self.pattern_message)
        enum = shape.metadata.get("enum")
        self.enum = None if enum is None else frozenset(enum)
        self.enum_message = "" if enum is None else f"Member must satisfy enum value set: [{', '.join(enum)}]"
        if enum is not None:
            self.constraints.append(self.enum_message)
        self.has_constraints = bool(self.constraints)

    def convert(self, value: Any) -> Any:
        return value if type(value) is str else _INVALID

    def violations(self, value: Any) -> list[str] | None:
        length = _utf16_length(value)
        broken: list[str] | None = None
        if self.max is not None and length > self.max:
            broken = [self.max_message]
        if self.min is not None and length < self.min:
            broken = [*(broken or ()), self.min_message]
        # A value over its max is not run through the pattern: bounded regex work per request.
        if self.pattern is not None and (self.max is None or length <= self.max):
            if self.pattern.fullmatch(value) is None:
                broken = [*(broken or ()), self.pattern_message]
        if self.enum is not None and value not in self.enum:
            broken = [*(broken or ()), self.enum_message]
        return broken

    def is_valid(self, value: Any) -> bool:
        length = len(value)
        if length < self.lo or length * 2 > self.hi:  # Java counts astral characters twice
            length = _utf16_length(value)
            if length < self.lo or length > self.hi:
                return False
        pattern = self.pattern
        if pattern is not None and pattern.fullmatch(value) is None:
            return False
        enum = self.enum
        return enum is None or value in enum

    def decode(self, value: Any, path: _Path, errors: _Errors) -> Any:
        if type(value) is not str:
            errors.append(_violation(value, path, self.type_message, self.hide))
            return value
        if self.has_constraints:  # is_valid, inlined: this is the hottest path of every request
            length = len(value)
            if length < self.lo or length * 2 > self.hi:
                length = _utf16_length(value)
                if length < self.lo or length > self.hi:
                    errors.extend(_violation(value, path, c, self.hide) for c in self.violations(value) or ())
                    return value
            if (self.pattern is not None and self.pattern.fullmatch(value) is None) or (
                self.enum is not None and value not in self.enum
            ):
                errors.extend(_violation(value, path, c, self.hide) for c in self.violations(value) or ())
        return value

    @property
    def encoder(self) -> _Encoder | None:
        return _encode_jsonvalue if self.jsonvalue else None


def _encode_jsonvalue(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


class _Number(_Scalar):
    """``integer``/``long`` (Java int/long ranges) and ``float``/``double`` (finite numbers)."""

    __slots__ = ("integral", "max", "max_message", "min", "min_message", "range")

    def __init__(self, shape: Shape, hide: bool) -> None:
        kind = shape.type_name
        self.integral = kind in ("integer", "long")
        if kind == "integer":
            message, self.range = "Member must be an integer between -2147483648 and 2147483647", _INT32
        elif kind == "long":
            message, self.range = "Member must be a 64-bit integer", _INT64
        else:
            message, self.range = "Member must be a number", (0, 0)
        super().__init__(kind, message, hide)
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
        spell: Callable[[Any], str] = (
            (lambda v: str(int(v))) if self.integral else (lambda v: java_double_to_string(float(v)))
        )
        self.min = None if lo is None else (int(lo) if self.integral else float(lo))
        self.max = None if hi is None else (int(hi) if self.integral else float(hi))
        self.max_message = "" if hi is None else f"Member must have value less than or equal to {spell(hi)}"
        self.min_message = (
            "" if lo is None else f"Member must have value greater than or equal to {spell(lo)}"
        )
        self.constraints = [m for m in (self.max_message, self.min_message) if m]
        self.has_constraints = bool(self.constraints)

    def convert(self, value: Any) -> Any:
        kind = type(value)
        if self.integral:
            if kind is float and value.is_integer():
                value = int(value)
            elif kind is not int:
                return _INVALID
            return value if self.range[0] <= value <= self.range[1] else _INVALID
        if kind is float:
            return value if math.isfinite(value) else _INVALID
        if kind is int:
            try:
                return float(value)
            except OverflowError:
                return _INVALID
        return _INVALID

    def violations(self, value: Any) -> list[str] | None:
        broken: list[str] | None = None
        if self.max is not None and value > self.max:
            broken = [self.max_message]
        if self.min is not None and value < self.min:
            broken = [*(broken or ()), self.min_message]
        return broken

    @property
    def encoder(self) -> _Encoder | None:
        return int if self.integral else float


class _Boolean(_Scalar):
    __slots__ = ()

    def __init__(self, hide: bool) -> None:
        super().__init__("boolean", "Member must be a boolean", hide)

    def convert(self, value: Any) -> Any:
        return value if type(value) is bool else _INVALID

    @property
    def encoder(self) -> _Encoder | None:
        return bool


_NUMERIC_STRING: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def parse_timestamp(value: Any) -> float | None:
    """Epoch seconds for a wire timestamp (number, numeric string or ISO-8601 string), else ``None``."""
    kind = type(value)
    if kind is int or kind is float:
        try:
            seconds = float(value)
        except OverflowError:
            return None
        return seconds if math.isfinite(seconds) else None
    if kind is not str:
        return None
    if _NUMERIC_STRING.fullmatch(value):
        seconds = float(value)
        return seconds if math.isfinite(seconds) else None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        return moment.timestamp()
    except (OverflowError, OSError, ValueError):
        return None


class _Timestamp(_Scalar):
    __slots__ = ()

    def __init__(self, hide: bool) -> None:
        super().__init__("timestamp", "Member must be a timestamp (epoch seconds or ISO-8601)", hide)

    def convert(self, value: Any) -> Any:
        seconds = parse_timestamp(value)
        return _INVALID if seconds is None else seconds

    @property
    def encoder(self) -> _Encoder | None:
        return _encode_timestamp


def _encode_timestamp(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.timestamp()
    if isinstance(value, str):
        seconds = parse_timestamp(value)
        if seconds is None:
            raise ValueError(f"not a timestamp: {value!r}")
        return seconds
    return float(value)


class _Blob(_Scalar):
    __slots__ = ()

    def __init__(self, hide: bool) -> None:
        super().__init__("blob", "Member must be a base64-encoded string", hide)

    def convert(self, value: Any) -> Any:
        if type(value) is not str:
            return _INVALID
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return _INVALID

    @property
    def encoder(self) -> _Encoder | None:
        return _encode_blob


def _encode_blob(value: Any) -> Any:
    return base64.b64encode(value).decode("ascii") if isinstance(value, bytes | bytearray) else value


class _Document(_Scalar):
    """A ``document`` shape: any JSON value, passed through."""

    __slots__ = ()

    def __init__(self, hide: bool) -> None:
        super().__init__("document", "Member must be a JSON value", hide)

    def convert(self, value: Any) -> Any:
        return value


class _List(_Codec):
    __slots__ = ("item", "item_decode", "max", "max_message", "min", "min_message")

    item: _Codec
    item_decode: Callable[[Any, _Path, _Errors], Any]

    def __init__(self, shape: Shape, hide: bool) -> None:
        self.type_name = "list"
        self.hide = hide
        self.min, self.max, described = _length_bounds(shape)
        self.max_message = described[0] if self.max is not None else ""
        self.min_message = described[-1] if self.min is not None else ""

    def decode(self, value: Any, path: _Path, errors: _Errors) -> Any:
        if type(value) is not list:
            errors.append(_violation(value, path, "Member must be a list", self.hide))
            return value
        count = len(value)
        if self.max is not None and count > self.max:
            errors.append(_violation(value, path, self.max_message, self.hide))
        if self.min is not None and count < self.min:
            errors.append(_violation(value, path, self.min_message, self.hide))
        item = self.item
        if isinstance(item, _Scalar):
            convert = item.convert
            check = item.is_valid if item.has_constraints else None
            out: list[Any] = []
            broken = False
            for index, element in enumerate(value):
                converted = convert(element)
                if converted is _INVALID:
                    constraint = _NOT_NULL if element is None else item.type_message
                    errors.append(_violation(element, (path, index), constraint, item.hide))
                elif check is not None and not broken and not check(converted):
                    broken = True
                out.append(converted)
            if broken:  # AWS reports the item constraints once, at the list's path
                described = ", ".join(item.constraints)
                errors.append(
                    _violation(value, path, f"Member must satisfy constraint: [{described}]", self.hide)
                )
            return out
        decode = self.item_decode
        results: list[Any] = []
        for index, element in enumerate(value):
            if element is None:
                errors.append(_violation(None, (path, index), _NOT_NULL, item.hide))
                results.append(None)
            else:
                results.append(decode(element, (path, index), errors))
        return results

    @property
    def encoder(self) -> _Encoder | None:
        return self.encode

    def encode(self, value: Any) -> Any:
        encode = self.item.encoder
        if encode is None:
            return list(value)
        return [None if element is None else encode(element) for element in value]


class _Map(_Codec):
    __slots__ = ("key", "max", "max_message", "min", "min_message", "value", "value_decode")

    key: _Scalar
    value: _Codec
    value_decode: Callable[[Any, _Path, _Errors], Any]

    def __init__(self, shape: Shape, hide: bool) -> None:
        self.type_name = "map"
        self.hide = hide
        self.min, self.max, described = _length_bounds(shape)
        self.max_message = described[0] if self.max is not None else ""
        self.min_message = described[-1] if self.min is not None else ""

    def decode(self, value: Any, path: _Path, errors: _Errors) -> Any:
        if type(value) is not dict:
            errors.append(_violation(value, path, "Member must be a map", self.hide))
            return value
        count = len(value)
        if self.max is not None and count > self.max:
            errors.append(_violation(value, path, self.max_message, self.hide))
        if self.min is not None and count < self.min:
            errors.append(_violation(value, path, self.min_message, self.hide))
        key_codec, value_codec = self.key, self.value
        check_key = key_codec.is_valid if key_codec.has_constraints else None
        scalar = value_codec if isinstance(value_codec, _Scalar) else None
        convert = None if scalar is None else scalar.convert
        check_value = scalar.is_valid if scalar is not None and scalar.has_constraints else None
        keys_broken = values_broken = False
        out: dict[Any, Any] = {}
        for key, element in value.items():
            if type(key) is not str:  # impossible from JSON; possible from Python callers
                errors.append(_violation(key, path, "Map keys must be strings", self.hide))
                continue
            if check_key is not None and not keys_broken and not check_key(key):
                keys_broken = True
            if element is None:
                errors.append(_violation(None, (path, key), _NOT_NULL, value_codec.hide))
            elif scalar is None or convert is None:
                out[key] = self.value_decode(element, (path, key), errors)
            else:
                converted = convert(element)
                if converted is _INVALID:
                    errors.append(_violation(element, (path, key), scalar.type_message, scalar.hide))
                elif check_value is not None and not values_broken and not check_value(converted):
                    values_broken = True
                out[key] = converted
        if keys_broken:
            described = ", ".join(key_codec.constraints)
            errors.append(
                _violation(value, path, f"Map keys must satisfy constraint: [{described}]", self.hide)
            )
        if values_broken and scalar is not None:
            described = ", ".join(scalar.constraints)
            errors.append(
                _violation(value, path, f"Map value must satisfy constraint: [{described}]", self.hide)
            )
        return out

    @property
    def encoder(self) -> _Encoder | None:
        return self.encode

    def encode(self, value: Any) -> Any:
        encode = self.value.encoder
        if encode is None:
            return {k: v for k, v in value.items() if v is not None}
        return {k: encode(v) for k, v in value.items() if v is not None}


class _Structure(_Codec):
    """A structure: wire → (snake, decode) for input, snake → (wire, encoder) for output."""

    __slots__ = ("by_snake", "by_wire", "member_list", "name", "required", "union")

    def __init__(self, name: str, hide: bool, required: list[str], union: bool) -> None:
        self.type_name = "structure"
        self.name = name
        self.hide = hide
        self.required = tuple(required)
        self.union = union
        # decode None: an unconstrained string, checked inline (the most common member by far).
        self.by_wire: dict[str, tuple[str, Callable[[Any, _Path, _Errors], Any] | None]] = {}
        self.by_snake: dict[str, tuple[str, _Encoder | None]] = {}
        self.member_list = ""

    def decode(self, value: Any, path: _Path, errors: _Errors) -> Any:
        if type(value) is not dict:
            errors.append(_violation(value, path, "Member must be a structure", self.hide))
            return value
        by_wire = self.by_wire
        out: dict[str, Any] = {}
        for key, element in value.items():
            member = by_wire.get(key)
            if member is None:
                where = _path_str((path, key) if type(key) is str else path)
                errors.append(f"Unknown parameter at '{where}': must be one of: {self.member_list}")
            elif element is not None:  # JSON null means absent, as in AWS
                snake, decode = member
                if decode is not None:
                    out[snake] = decode(element, (path, key), errors)
                elif type(element) is str:
                    out[snake] = element
                else:
                    errors.append(_violation(element, (path, key), "Member must be a string", self.hide))
        for name in self.required:
            if value.get(name) is None:
                errors.append(_violation(None, (path, name), _NOT_NULL, False))
        if self.union and len(out) != 1:
            errors.append(
                _violation(value, path, "Member must have exactly one member set (union)", self.hide)
            )
        return out

    @property
    def encoder(self) -> _Encoder | None:
        return self.encode

    def encode(self, value: Any) -> dict[str, Any]:
        by_snake = self.by_snake
        out: dict[str, Any] = {}
        for key, element in value.items():
            member = by_snake.get(key)
            if member is None or element is None:
                continue
            wire, encode = member
            out[wire] = element if encode is None else encode(element)
        return out


# --------------------------------------------------------------------------------------------------------
# The service codec
# --------------------------------------------------------------------------------------------------------


class ServiceCodec:
    """Validation and wire ⇄ snake_case conversion for one Personalize service, built from its model.

    >>> codec = load_codec("personalize")
    >>> arn = "arn:aws:personalize:us-east-1:1:dataset-group/g"
    >>> codec.decode_input("CreateSolution", {"name": "s", "datasetGroupArn": arn, "performHPO": True})
    {'name': 's', 'dataset_group_arn': 'arn:aws:personalize:us-east-1:1:dataset-group/g', 'perform_hpo': True}
    """

    def __init__(
        self, service_name: str, *, pattern_overrides: Mapping[str, str | None] = DEFAULT_PATTERN_OVERRIDES
    ) -> None:
        """Compile ``service_name``'s model (see :data:`SERVICE_NAMES`).

        ``pattern_overrides`` replaces the Java ``pattern`` of string shapes by name (``None`` removes it);
        the default is :data:`DEFAULT_PATTERN_OVERRIDES`, pass ``{}`` for the model exactly as AWS has it.
        """
        self.service_name = service_name
        self.pattern_overrides: Mapping[str, str | None] = MappingProxyType(dict(pattern_overrides))
        self.model: ServiceModel = load_service_model(service_name)
        self.protocol: str = self.model.metadata["protocol"]
        self.target_prefix: str | None = self.model.metadata.get("targetPrefix")
        self.operation_names: frozenset[str] = frozenset(self.model.operation_names)
        self._structures: dict[tuple[str, bool], _Structure] = {}
        self._containers: dict[tuple[str, bool], _Codec] = {}
        self._hides: dict[str, bool] = {}
        self._inputs: dict[str, _Structure] = {}
        self._outputs: dict[str, _Structure | None] = {}
        self._http: dict[str, tuple[str, str]] = {}
        self._errors: dict[str, list[str]] = {}
        empty = _Structure("<none>", False, [], False)
        empty.member_list = "(no parameters)"
        for operation in sorted(self.operation_names):
            op = self.model.operation_model(operation)
            input_shape, output_shape = op.input_shape, op.output_shape
            self._inputs[operation] = empty if input_shape is None else self._structure(input_shape)
            self._outputs[operation] = None if output_shape is None else self._structure(output_shape)
            self._http[operation] = (op.http.get("method", "POST"), op.http.get("requestUri", "/"))
            self._errors[operation] = sorted(shape.name for shape in op.error_shapes)
        self._routes = {http: name for name, http in self._http.items()}

    # -- public API --------------------------------------------------------------------------------------

    def decode_input(self, operation: str, body: Any) -> dict[str, Any]:
        """Validate a decoded JSON request body and return it with snake_case structure members.

        ``body`` ``None`` (an empty HTTP body) counts as ``{}``. Raises
        :class:`~pertinent.errors.InvalidInputException` listing every violation, or
        :class:`~pertinent.errors.UnknownOperationException` for an operation the service lacks.
        """
        codec = self._inputs.get(operation)
        if codec is None:
            raise UnknownOperationException(f"Unknown operation {operation} for {self.service_name}")
        if body is None:
            body = {}
        elif type(body) is not dict:
            raise InvalidInputException(
                f"Invalid request body: expected a JSON object, got {_json_type_name(body)}"
            )
        errors: _Errors = []
        result = codec.decode(body, None, errors)
        if errors:
            raise InvalidInputException(_summary(errors))
        decoded: dict[str, Any] = result
        return decoded

    def encode_output(self, operation: str, result: Mapping[str, Any] | None) -> dict[str, Any]:
        """Wire JSON for a snake_case result of ``operation`` (``{}`` for operations without output).

        Keys the output shape does not define, and ``None`` values, are dropped; map keys are kept;
        ``datetime`` and numeric timestamps become epoch-second floats; numpy scalars become plain
        numbers. A ``None`` result encodes as ``{}``.
        """
        if operation not in self._outputs:
            raise UnknownOperationException(f"Unknown operation {operation} for {self.service_name}")
        codec = self._outputs[operation]
        return {} if codec is None or result is None else codec.encode(result)

    def operation_http(self, operation: str) -> tuple[str, str]:
        """``(method, requestUri)`` of an operation, e.g. ``("POST", "/recommendations")``."""
        try:
            return self._http[operation]
        except KeyError:
            raise UnknownOperationException(
                f"Unknown operation {operation} for {self.service_name}"
            ) from None

    def routes(self) -> dict[tuple[str, str], str]:
        """``{(method, requestUri): operation}`` for every operation (the REST-JSON route table)."""
        return dict(self._routes)

    def error_codes(self, operation: str) -> list[str]:
        """The error codes the model declares for an operation, sorted."""
        try:
            return list(self._errors[operation])
        except KeyError:
            raise UnknownOperationException(
                f"Unknown operation {operation} for {self.service_name}"
            ) from None

    def member_names(self, shape_name: str) -> dict[str, str]:
        """``{wire name: snake name}`` for the members of a structure shape of this service."""
        codec = self._structure(self.model.shape_for(shape_name))
        return {wire: snake for wire, (snake, _) in codec.by_wire.items()}

    def encode_shape(self, shape_name: str, value: Mapping[str, Any]) -> dict[str, Any]:
        """Encode a snake_case value of any structure shape (as ``encode_output`` does for outputs)."""
        codec = self._structure(self.model.shape_for(shape_name))
        return codec.encode(value)

    def decode_shape(self, shape_name: str, value: Any) -> dict[str, Any]:
        """Validate and decode a wire value of any structure shape (as ``decode_input`` does for inputs)."""
        codec = self._structure(self.model.shape_for(shape_name))
        errors: _Errors = []
        result = codec.decode(value, None, errors)
        if errors:
            raise InvalidInputException(_summary(errors))
        decoded: dict[str, Any] = result
        return decoded

    # -- building ----------------------------------------------------------------------------------------

    def _hides_value(self, shape: Shape, visiting: frozenset[str] = frozenset()) -> bool:
        """Whether a shape is sensitive or (transitively) contains a sensitive shape."""
        if shape.metadata.get("sensitive"):
            return True
        name = shape.name
        if name in self._hides:
            return self._hides[name]
        if name in visiting:
            return False
        visiting = visiting | {name}
        kind = shape.type_name
        if kind == "structure":
            hides = any(self._hides_value(m, visiting) for m in shape.members.values())
        elif kind == "list":
            hides = self._hides_value(shape.member, visiting)
        elif kind == "map":
            hides = self._hides_value(shape.key, visiting) or self._hides_value(shape.value, visiting)
        else:
            hides = False
        self._hides[name] = hides
        return hides

    def _codec(self, shape: Shape, inside_sensitive: bool) -> _Codec:
        """The codec of a shape; everything inside a sensitive shape is treated as sensitive too."""
        kind = shape.type_name
        if kind == "structure":
            return self._structure(shape, inside_sensitive)
        hide = inside_sensitive or self._hides_value(shape)
        inner = inside_sensitive or bool(shape.metadata.get("sensitive"))
        if kind == "list":
            cached = self._containers.get((shape.name, inner))
            if cached is None:
                codec = _List(shape, hide)
                self._containers[shape.name, inner] = codec
                codec.item = self._codec(shape.member, inner)
                codec.item_decode = codec.item.decode
                cached = codec
            return cached
        if kind == "map":
            cached = self._containers.get((shape.name, inner))
            if cached is None:
                mapping = _Map(shape, hide)
                self._containers[shape.name, inner] = mapping
                key = self._codec(shape.key, inner)
                if not isinstance(key, _String):
                    raise ValueError(f"map {shape.name} has non-string keys")
                mapping.key = key
                mapping.value = self._codec(shape.value, inner)
                mapping.value_decode = mapping.value.decode
                cached = mapping
            return cached
        if kind == "string":
            pattern = self.pattern_overrides.get(shape.name, shape.metadata.get("pattern"))
            return _String(shape, hide, bool(shape.serialization.get("jsonvalue")), pattern)
        if kind in ("integer", "long", "float", "double"):
            return _Number(shape, hide)
        if kind == "boolean":
            return _Boolean(hide)
        if kind == "timestamp":
            return _Timestamp(hide)
        if kind == "blob":
            return _Blob(hide)
        if kind == "document" or shape.metadata.get("document"):
            return _Document(hide)
        raise ValueError(f"unsupported shape type {kind!r} ({shape.name})")

    def _structure(self, shape: Shape, inside_sensitive: bool = False) -> _Structure:
        if shape.type_name != "structure":
            raise ValueError(f"{shape.name} is a {shape.type_name}, not a structure")
        cached = self._structures.get((shape.name, inside_sensitive))
        if cached is not None:
            return cached
        inner = inside_sensitive or bool(shape.metadata.get("sensitive"))
        codec = _Structure(
            shape.name,
            inside_sensitive or self._hides_value(shape),
            list(shape.required_members),
            bool(shape.metadata.get("union")),
        )
        # Registered before its members are built, so recursive shapes resolve to this object.
        self._structures[shape.name, inside_sensitive] = codec
        members = shape.members
        codec.member_list = ", ".join(members)
        for wire, member_shape in members.items():
            snake = snake_case(wire)
            if snake in codec.by_snake:
                raise ValueError(f"{shape.name}: {wire} and {codec.by_snake[snake][0]} share {snake!r}")
            member = self._codec(member_shape, inner)
            plain = isinstance(member, _String) and not member.has_constraints and not member.hide
            codec.by_wire[wire] = (snake, None if plain else member.decode)
            codec.by_snake[snake] = (wire, member.encoder)
        return codec


def _json_type_name(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__
