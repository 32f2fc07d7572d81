"""How OpenSearch (Java) spells JSON values in its messages, and how it parses numbers from text.

The Personalize plugin and OpenSearch's configuration readers build their error texts and item ids with Java's
``toString()``, ``getClass().getName()``, ``Double.parseDouble`` and ``Integer.parseInt``. These helpers
reproduce them for values decoded from JSON (``str``, ``int``, ``float``, ``bool``, ``None``, ``list``,
``dict``), so our messages and ids are byte-for-byte the plugin's.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
# Java's String.trim() removes every character up to and including U+0020.
_JAVA_TRIM = "".join(chr(code) for code in range(0x21))
_DECIMAL_DOUBLE = re.compile(r"[+-]?(?:NaN|Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[fFdD]?)")
_HEX_DOUBLE = re.compile(r"([+-]?)0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP]([+-]?\d+)[fFdD]?")
_JAVA_INT = re.compile(r"[+-]?[0-9]+")


def java_double_to_string(value: float) -> str:
    """``Double.toString``: ``1.0``, ``0.001``, ``1.0E7``, ``1.5E-5``, ``NaN``, ``-Infinity``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    magnitude = abs(value)
    sign = "-" if value < 0 else ""
    if magnitude == 5e-324:  # Double.MIN_VALUE: Java prints two digits where one would do
        return sign + "4.9E-324"
    if 1e-3 <= magnitude < 1e7:
        text = repr(magnitude)
        return sign + (text if "." in text else text + ".0")
    _, digits, exponent = Decimal(repr(magnitude)).normalize().as_tuple()
    assert isinstance(exponent, int)
    scientific_exponent = len(digits) - 1 + exponent
    mantissa = str(digits[0]) + "." + ("".join(str(d) for d in digits[1:]) or "0")
    return f"{sign}{mantissa}E{scientific_exponent}"


def java_to_string(value: Any) -> str:
    """``Object.toString()`` of a JSON value as OpenSearch decodes it (``String.valueOf`` for ``null``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return java_double_to_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(java_to_string(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = java_hashmap_order(list(value))
        return "{" + ", ".join(f"{java_to_string(k)}={java_to_string(value[k])}" for k in keys) + "}"
    return str(value)


_JAVA_NON_BREAKING = "\u00a0\u2007\u202f"
_JAVA_CONTROL_WHITESPACE = "\t\n\u000b\u000c\r\u001c\u001d\u001e\u001f"


def java_is_whitespace(char: str) -> bool:
    """``Character.isWhitespace``: Unicode space separators except the non-breaking ones, plus ASCII controls."""
    if char in _JAVA_CONTROL_WHITESPACE:
        return True
    return unicodedata.category(char) in ("Zs", "Zl", "Zp") and char not in _JAVA_NON_BREAKING


def java_is_blank(text: str | None) -> bool:
    """``String.isBlank()`` (empty or only :func:`java_is_whitespace`); None counts as blank."""
    return text is None or all(java_is_whitespace(char) for char in text)


def java_string_hash(text: str) -> int:
    """``String.hashCode()``: ``s[0]*31^(n-1) + … + s[n-1]`` over UTF-16 code units, as a signed 32-bit int."""
    units = text.encode("utf-16-be", "surrogatepass")
    value = 0
    for index in range(0, len(units), 2):
        value = (31 * value + (units[index] << 8 | units[index + 1])) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def java_hashmap_order(keys: Sequence[str], inserted: int | None = None) -> list[str]:
    """The order in which a ``java.util.HashMap`` built by inserting ``keys`` (in this order) iterates them.

    OpenSearch decodes JSON objects into ``HashMap`` s, so the key lists in its messages (for example the
    unsupported configuration parameters of a pipeline) come out in this order, not in the JSON's.
    ``inserted`` is how many keys the map held at its largest (its table never shrinks when keys are
    removed); it defaults to ``len(keys)``. Iteration is by bucket ``(h ^ (h >>> 16)) & (capacity - 1)``, then
    by insertion order within a bucket (a resize splits buckets preserving that order).
    """
    size = len(keys) if inserted is None else max(inserted, len(keys))
    capacity = 16
    while size > capacity * 3 // 4:  # the default load factor 0.75; a resize doubles the table
        capacity *= 2

    def bucket(key: str) -> int:
        unsigned = java_string_hash(key) & 0xFFFFFFFF
        return (unsigned ^ (unsigned >> 16)) & (capacity - 1)

    return sorted(keys, key=bucket)  # sorted() is stable: insertion order within a bucket


def java_class_name(value: Any) -> str:
    """``value.getClass().getName()`` for a JSON value parsed into an OpenSearch config map."""
    if isinstance(value, bool):
        return "java.lang.Boolean"
    if isinstance(value, str):
        return "java.lang.String"
    if isinstance(value, int):
        if _INT32[0] <= value <= _INT32[1]:
            return "java.lang.Integer"
        if _INT64[0] <= value <= _INT64[1]:
            return "java.lang.Long"
        return "java.math.BigInteger"
    if isinstance(value, float):
        return "java.lang.Double"
    if isinstance(value, list | tuple):
        return "java.util.ArrayList"
    if isinstance(value, dict):
        return "java.util.HashMap"
    return "java.lang.Object"


def xcontent_token(value: Any) -> str:
    """The XContent token a JSON value starts with: ``VALUE_STRING``, ``START_OBJECT`` …"""
    if value is None:
        return "VALUE_NULL"
    if isinstance(value, bool):
        return "VALUE_BOOLEAN"
    if isinstance(value, str):
        return "VALUE_STRING"
    if isinstance(value, int | float):
        return "VALUE_NUMBER"
    if isinstance(value, list | tuple):
        return "START_ARRAY"
    return "START_OBJECT"


def parse_java_double(text: str) -> float | None:
    """``Double.parseDouble(text)``, or None where Java throws ``NumberFormatException``.

    Accepts what Java accepts: surrounding control characters and spaces, a sign, ``NaN``, ``Infinity``,
    decimal literals with an optional exponent and ``f``/``d`` suffix, and hexadecimal literals (``0x1p-2``).
    """
    text = text.strip(_JAVA_TRIM)
    if _DECIMAL_DOUBLE.fullmatch(text):
        body = text.rstrip("fFdD") if not text.endswith("Infinity") else text
        if body.lstrip("+-") == "NaN":
            return math.nan
        if body.lstrip("+-") == "Infinity":
            return -math.inf if body.startswith("-") else math.inf
        return float(body)
    hexadecimal = _HEX_DOUBLE.fullmatch(text)
    if hexadecimal:
        sign, digits, exponent = hexadecimal.groups()
        try:
            return float.fromhex(f"{sign}0x{digits}p{exponent}")
        except OverflowError:
            return -math.inf if sign == "-" else math.inf
    return None


def parse_java_int(text: str) -> int | None:
    """``Integer.parseInt(text)``, or None where Java throws ``NumberFormatException`` (also outside int32)."""
    if not _JAVA_INT.fullmatch(text):
        return None
    value = int(text)
    return value if _INT32[0] <= value <= _INT32[1] else None
