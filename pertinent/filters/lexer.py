"""Tokenizer for filter expressions (and the quoted strings of ``filterValues``).

Positions are 1-based character offsets into the source text, as every error message reports them.
The lexer never fails on an unexpected character: it emits an ``UNKNOWN`` token and lets the parser say what
it expected there. It fails itself only where no token can be formed: an unclosed string, a ``$`` without a
name, a ``Dataset.`` without a field name, or a number out of range.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import Enum, auto

from pertinent.errors import InvalidInputException

#: Prefix of every CreateFilter validation message, as Personalize words it.
CREATE_PREFIX = "Could not create filter. "

#: The longest filter expression CreateFilter accepts.
MAX_EXPRESSION_LENGTH = 2500

#: filterValues keys are at most 50 characters of ``[A-Za-z0-9_]``, so placeholder names are too.
MAX_PLACEHOLDER_LENGTH = 50

_IDENT_START = re.compile(r"[A-Za-z_]")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLACEHOLDER_NAME = re.compile(r"[A-Za-z0-9_]*")
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NUMBER_TAIL = re.compile(r"[A-Za-z0-9_.]+")
_SINGLE = {"(": "LPAREN", ")": "RPAREN", ",": "COMMA", "|": "PIPE", "*": "STAR"}


class TokenKind(Enum):
    """The kinds of token the parser sees."""

    WORD = auto()  # a bare identifier: keyword, target, or a name missing its dataset
    NAME = auto()  # Dataset.FIELD
    STRING = auto()  # "..." (value is the decoded text)
    NUMBER = auto()  # 12, -0.5, 1e3 (value is the float)
    PLACEHOLDER = auto()  # $NAME (value is NAME)
    LPAREN = auto()
    RPAREN = auto()
    COMMA = auto()
    PIPE = auto()
    STAR = auto()
    OP = auto()  # = != < <= > >=
    UNKNOWN = auto()  # any other character
    END = auto()


@dataclass(frozen=True)
class Token:
    """One token: its kind, its exact source text, its decoded value and 1-based position."""

    kind: TokenKind
    text: str
    position: int
    value: str | float | tuple[str, str] | None = None


def create_error(message: str) -> InvalidInputException:
    """An InvalidInputException for CreateFilter: ``Could not create filter. <message>``."""
    return InvalidInputException(CREATE_PREFIX + message)


def quote_symbol(text: str, limit: int = 40) -> str:
    """``text`` quoted for a message: in double quotes, or single quotes if it contains a double quote."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"'{text}'" if '"' in text else f'"{text}"'


def parse_number(text: str) -> float | None:
    """The value of ``text`` if it is a number as the grammar writes them (``12``, ``-0.5``, ``1e3``).

    Returns None otherwise. Surrounding whitespace is ignored. Stricter than :func:`float`: no ``nan``,
    ``inf``, ``1_000`` or ``+1``.
    """
    match = _NUMBER.fullmatch(text.strip())
    if match is None:
        return None
    value = float(match.group())
    return value if math.isfinite(value) else None


def scan_string(text: str, start: int) -> tuple[str, int] | None:
    """Decode the double-quoted string whose opening quote is at 0-based ``start``.

    ``\\"`` and ``\\\\`` are escapes for ``"`` and ``\\``; any other backslash is kept as is. Returns the
    decoded value and the 0-based index just past the closing quote, or None when the string never closes.
    """
    parts: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and text[i + 1] in '"\\':
            parts.append(text[i + 1])
            i += 2
        elif char == '"':
            return "".join(parts), i + 1
        else:
            parts.append(char)
            i += 1
    return None


def tokenize(text: str) -> list[Token]:
    """Split a filter expression into tokens, ending with one ``END`` token.

    Raises InvalidInputException for an unclosed string, a bare ``$`` or a ``Dataset.`` without a field.
    """
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        pos = i + 1
        if char.isspace():
            i += 1
        elif _IDENT_START.match(char):
            i = _lex_name(text, i, tokens)
        elif char.isdigit() or (char in "-." and i + 1 < n and text[i + 1].isdigit()):
            match = _NUMBER.match(text, i)
            if match is not None and not _NUMBER_TAIL.match(text, match.end()):
                number = float(match.group())
                if not math.isfinite(number):
                    raise create_error(
                        f"Invalid number {quote_symbol(match.group())} at position {pos}: out of range."
                    )
                tokens.append(Token(TokenKind.NUMBER, match.group(), pos, number))
                i = match.end()
            else:
                tail = _NUMBER_TAIL.match(text, i)
                end = tail.end() if tail is not None and tail.end() > i else i + 1
                tokens.append(Token(TokenKind.UNKNOWN, text[i:end], pos))
                i = end
        elif char == '"':
            scanned = scan_string(text, i)
            if scanned is None:
                raise create_error(
                    f"Unbalanced quotes: the string that starts at position {pos} is never closed."
                )
            value, end = scanned
            tokens.append(Token(TokenKind.STRING, text[i:end], pos, value))
            i = end
        elif char == "$":
            match = _PLACEHOLDER_NAME.match(text, i + 1)
            name = match.group() if match is not None else ""
            if not name:
                raise create_error(
                    f'Invalid input symbol "$" at position {pos}: expected a placeholder name '
                    '(letters, digits and underscores) after "$".'
                )
            if len(name) > MAX_PLACEHOLDER_LENGTH:
                raise create_error(
                    f"Invalid placeholder {quote_symbol('$' + name)} at position {pos}: placeholder names "
                    f"have at most {MAX_PLACEHOLDER_LENGTH} characters."
                )
            tokens.append(Token(TokenKind.PLACEHOLDER, "$" + name, pos, name))
            i += 1 + len(name)
        elif char in _SINGLE:
            tokens.append(Token(TokenKind[_SINGLE[char]], char, pos))
            i += 1
        elif char in "<>" or (char in "!=" and (char == "=" or text.startswith("!=", i))):
            op = text[i : i + 2] if text.startswith(("<=", ">=", "!="), i) else char
            tokens.append(Token(TokenKind.OP, op, pos))
            i += len(op)
        else:
            tokens.append(Token(TokenKind.UNKNOWN, char, pos))
            i += 1
    tokens.append(Token(TokenKind.END, "", n + 1))
    return tokens


def _lex_name(text: str, i: int, tokens: list[Token]) -> int:
    """Lex ``WORD`` or ``Dataset.FIELD`` starting at 0-based ``i``; return the index after it."""
    match = _IDENT.match(text, i)
    assert match is not None  # the caller checked the first character
    word = match.group()
    end = match.end()
    if end < len(text) and text[end] == ".":
        field_match = _IDENT.match(text, end + 1)
        if field_match is None:
            after = text[end + 1] if end + 1 < len(text) else ""
            if not after:
                where = f"Unexpected end of expression at position {end + 2}"
            elif after.isspace():
                where = f"Missing field name at position {end + 2}"
            else:
                where = f"Invalid input symbol {quote_symbol(after)} at position {end + 2}"
            raise create_error(f'{where}: expected a field name after "{word}.".')
        field = field_match.group()
        tokens.append(Token(TokenKind.NAME, text[i : field_match.end()], i + 1, (word, field)))
        return field_match.end()
    tokens.append(Token(TokenKind.WORD, word, i + 1, word))
    return end
