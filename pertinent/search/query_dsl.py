"""An OpenSearch search body, run on an :class:`~pertinent.search.index.ItemIndex`, answered in OpenSearch's shape.

:func:`search` takes the JSON body of ``POST /<index>/_search`` and returns the response body OpenSearch would
(``took``, ``timed_out``, ``_shards``, ``hits.total``, ``hits.max_score``, ``hits.hits[{_index, _id, _score,
_source}]``). :func:`parse_search_body` does the parsing alone (a :class:`SearchRequest` holding the tantivy
query), :func:`execute` the searching alone, and :func:`raw_search` runs a prepared tantivy query with nothing
of ours around it, to measure what this layer costs.

The accepted DSL (docs/search.md lists every parameter):

==================  ==========================================================================================
``match``           ``query``, ``operator`` (or/and), ``minimum_should_match``, ``zero_terms_query``, ``lenient``
``match_phrase``    ``query``, ``slop``, ``zero_terms_query``
``multi_match``     ``query``, ``fields`` (``name^boost``, ``*`` wildcards), ``type`` best_fields | most_fields |
                    phrase, ``operator``, ``minimum_should_match``, ``tie_breaker``, ``slop``, ``lenient``
``term``/``terms``  exact values: categorical values, ``ITEM_ID``, numbers, booleans (a text field's tokens)
``ids``             ``values``: ``ITEM_ID`` s
``range``           ``gt``/``gte``/``lt``/``lte`` on numeric fields
``bool``            ``must``, ``should``, ``filter``, ``must_not``, ``minimum_should_match``
``dis_max``         ``queries``, ``tie_breaker``
``constant_score``  ``filter``
``match_all``       ``match_none``
==================  ==========================================================================================

Every query takes ``boost`` (and ``_name``, accepted and not reported). Scores follow OpenSearch: BM25 sums
over the terms of a ``match`` (tantivy's BM25 is Lucene's, with the ``k1 + 1`` factor of OpenSearch 2.x),
``best_fields`` and ``dis_max`` take the best field plus ``tie_breaker`` × the others, ``most_fields`` sums
fields, ``filter``/``must_not`` add nothing, ``terms``/``ids``/``range``/numeric ``term`` and ``match_all``
score a constant 1 × boost. Ties are broken by index order (like Lucene's doc id order).

A body we cannot run raises :class:`~pertinent.search.errors.SearchRequestError` with OpenSearch's error type
and a reason naming the offending key; a field that is not in the index matches nothing, as an unmapped field
does in OpenSearch.
"""

from __future__ import annotations

import fnmatch
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import tantivy
from tantivy import FieldType, Occur, Query

from pertinent.java_compat import java_to_string, parse_java_double, xcontent_token
from pertinent.search.errors import SearchRequestError
from pertinent.search.index import ITEM_ID, ItemIndex, raw_field_name
from pertinent.search.pipelines import EXT_NAME, parse_pipeline, parse_request_parameters

MAX_RESULT_WINDOW = 10_000  # index.max_result_window
DEFAULT_SIZE = 10
DEFAULT_TRACK_TOTAL_HITS = 10_000
MAX_CLAUSE_COUNT = 1024  # indices.query.bool.max_clause_count
MAX_TERMS_COUNT = 65_536  # index.max_terms_count
MAX_NESTED_DEPTH = 32
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)

# Keys OpenSearch accepts in a search body that we do not implement: reported as unsupported, not unknown.
_UNSUPPORTED_BODY_KEYS = frozenset(
    (
        "aggs aggregations collapse docvalue_fields explain fields highlight indices_boost min_score pit "
        "post_filter profile rescore script_fields search_after seq_no_primary_term slice sort stats "
        "stored_fields suggest terminate_after timeout track_scores version"
    ).split()
)
# Queries OpenSearch knows that we do not implement.
_UNSUPPORTED_QUERIES = frozenset(
    (
        "boosting combined_fields distance_feature exists function_score fuzzy geo_bounding_box "
        "geo_distance geo_polygon geo_shape has_child has_parent hybrid intervals knn match_bool_prefix "
        "match_phrase_prefix more_like_this nested neural parent_id percolate prefix query_string "
        "rank_feature regexp script script_score simple_query_string span_containing span_first "
        "span_multi span_near span_not span_or span_term span_within terms_set wildcard wrapper"
    ).split()
)
# Parameters OpenSearch's full-text queries accept that we do not implement.
_UNSUPPORTED_TEXT_PARAMS = frozenset(
    (
        "analyzer auto_generate_synonyms_phrase_query cutoff_frequency fuzziness fuzzy_rewrite "
        "fuzzy_transpositions max_expansions prefix_length"
    ).split()
)

_PARAMS: dict[str, frozenset[str]] = {
    "match": frozenset("query operator minimum_should_match boost lenient zero_terms_query _name".split()),
    "match_phrase": frozenset("query slop boost zero_terms_query _name".split()),
    "multi_match": frozenset(
        "query fields type operator minimum_should_match tie_breaker boost lenient slop zero_terms_query _name".split()
    ),
    "match_all": frozenset("boost _name".split()),
    "match_none": frozenset("boost _name".split()),
    "term": frozenset("value boost _name".split()),
    "ids": frozenset("values boost _name".split()),
    "range": frozenset("gt gte lt lte boost _name".split()),
    "bool": frozenset(
        "must should filter must_not minimum_should_match boost _name adjust_pure_negative".split()
    ),
    "dis_max": frozenset("queries tie_breaker boost _name".split()),
    "constant_score": frozenset("filter boost _name".split()),
}
"""The parameters each query accepts."""


def _parsing_error(reason: str) -> SearchRequestError:
    return SearchRequestError("parsing_exception", reason)


def _shard_error(reason: str) -> SearchRequestError:
    return SearchRequestError("query_shard_exception", f"failed to create query: {reason}")


# -- the request --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceFilter:
    """Which stored fields a hit's ``_source`` shows: ``enabled`` False drops ``_source``; patterns use ``*``."""

    enabled: bool = True
    includes: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()

    def apply(self, source: dict[str, Any]) -> dict[str, Any]:
        """``source`` restricted to the included and not excluded keys."""
        if not self.includes and not self.excludes:
            return source
        return {
            key: value
            for key, value in source.items()
            if (not self.includes or any(fnmatch.fnmatchcase(key, p) for p in self.includes))
            and not any(fnmatch.fnmatchcase(key, p) for p in self.excludes)
        }


@dataclass(frozen=True)
class SearchRequest:
    """A parsed search body: the tantivy query, the page, ``_source`` filtering and total-hits tracking.

    ``track_total_hits`` is False (no ``hits.total``), True (exact) or the count up to which it is exact.
    """

    query: tantivy.Query
    from_: int = 0
    size: int = DEFAULT_SIZE
    source: SourceFilter = SourceFilter()
    track_total_hits: bool | int = DEFAULT_TRACK_TOTAL_HITS


# -- small value readers ------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _float_param(query: str, name: str, value: Any) -> float:
    parsed = float(value) if _is_number(value) else None
    if isinstance(value, str):
        parsed = parse_java_double(value)
    if parsed is None or math.isnan(parsed):
        raise _parsing_error(f"[{query}] [{name}] must be a number, got [{java_to_string(value)}]")
    return parsed


def _boost(query: str, value: Any) -> float:
    boost = _float_param(query, "boost", value)
    if boost < 0:
        raise SearchRequestError("illegal_argument_exception", "negative [boost] are not allowed.")
    if math.isinf(boost):
        raise _parsing_error(f"[{query}] [boost] must be finite, got [{java_to_string(value)}]")
    return boost


def _tie_breaker(query: str, value: Any) -> float:
    tie_breaker = _float_param(query, "tie_breaker", value)
    if not 0.0 <= tie_breaker <= 1.0:  # Lucene's DisjunctionMaxQuery refuses anything else
        raise SearchRequestError("illegal_argument_exception", "tieBreakerMultiplier must be in [0, 1]")
    return tie_breaker


def _int_param(query: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not (_is_number(value) or isinstance(value, str)):
        raise _parsing_error(f"[{query}] [{name}] must be an integer, got [{java_to_string(value)}]")
    parsed = parse_java_double(value) if isinstance(value, str) else float(value)
    if parsed is None or not math.isfinite(parsed) or not parsed.is_integer():
        raise _parsing_error(f"[{query}] [{name}] must be an integer, got [{java_to_string(value)}]")
    return int(parsed)


def _bool_param(query: str, name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise _parsing_error(f"[{query}] [{name}] must be true or false, got [{java_to_string(value)}]")


def _operator(value: Any) -> Literal["or", "and"]:
    text = value.lower() if isinstance(value, str) else None
    if text == "or":
        return "or"
    if text == "and":
        return "and"
    raise SearchRequestError(
        "illegal_argument_exception",
        f"operator needs to be either [OR, AND], but not [{java_to_string(value)}]",
    )


def _zero_terms(query: str, value: Any) -> Literal["none", "all"]:
    text = value.lower() if isinstance(value, str) else None
    if text == "none":
        return "none"
    if text == "all":
        return "all"
    raise _parsing_error(f"[{query}] unsupported zero_terms_query value [{java_to_string(value)}]")


def _text_value(query: str, key: str, value: Any) -> str:
    """A query's text: a string, number or boolean (OpenSearch takes any scalar and uses its string form)."""
    if isinstance(value, str | bool) or _is_number(value):
        return java_to_string(value)
    raise _parsing_error(f"[{query}] unknown token [{xcontent_token(value)}] after [{key}]")


def minimum_should_match(spec: Any, optional_clauses: int) -> int:
    """How many of ``optional_clauses`` must match: an int (``2``, ``-1``) or a percentage (``"75%"``, ``"-25%"``).

    Lucene's rules: a negative value counts clauses that may be missing; the result is clamped to
    ``[0, optional_clauses]``. Combinations (``"3<90%"``) are not supported.
    """
    if isinstance(spec, bool) or not (isinstance(spec, int) or isinstance(spec, str)):
        raise _parsing_error(
            f"[minimum_should_match] must be an integer or a percentage, got [{java_to_string(spec)}]"
        )
    text = str(spec).strip()
    percent = text.endswith("%")
    number = text[:-1] if percent else text
    try:
        value = int(number)
    except ValueError:
        raise _parsing_error(f"pertinent does not support minimum_should_match [{text}]") from None
    if percent:
        magnitude = optional_clauses * abs(value) // 100
        result = magnitude if value >= 0 else optional_clauses - magnitude
    else:
        result = value if value >= 0 else optional_clauses + value
    return max(0, min(optional_clauses, result))


def _check_keys(query: str, body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    for key in body:
        if key in allowed:
            continue
        if key in _UNSUPPORTED_TEXT_PARAMS:
            raise _parsing_error(f"pertinent does not support [{key}] in the [{query}] query")
        raise _parsing_error(f"[{query}] query does not support [{key}]")


def _single_field(
    query: str, body: Mapping[str, Any], extra: frozenset[str] = frozenset()
) -> tuple[str, Any]:
    """The one field entry of a ``{field: value}`` query (``extra`` keys such as ``boost`` may sit beside it)."""
    fields = [key for key in body if key not in extra]
    if not fields:
        raise _parsing_error(f"[{query}] query requires a field")
    if len(fields) > 1:
        raise _parsing_error(
            f"[{query}] query doesn't support multiple fields, found [{fields[0]}] and [{fields[1]}]"
        )
    return fields[0], body[fields[0]]


# -- field targets ------------------------------------------------------------------------------------------

TargetKind = Literal["id", "text", "categorical", "numeric", "boolean"]


@dataclass(frozen=True)
class _Target:
    name: str
    kind: TargetKind
    integer: bool = False


class _Compiler:
    """Turns the ``query`` part of a body into a tantivy query for one index."""

    def __init__(self, index: ItemIndex) -> None:
        self.index = index
        self.schema = index.schema
        self.compilers: dict[str, Callable[[Mapping[str, Any], int], Query]] = {
            "match": self._match,
            "match_phrase": self._match_phrase,
            "multi_match": self._multi_match,
            "match_all": self._match_all,
            "match_none": self._match_none,
            "term": self._term,
            "terms": self._terms,
            "ids": self._ids,
            "range": self._range,
            "bool": self._bool,
            "dis_max": self._dis_max,
            "constant_score": self._constant_score,
        }

    # -- dispatch

    def compile(self, node: Any, depth: int = 0) -> Query:
        """One query object ``{"<type>": {...}}``."""
        if depth > MAX_NESTED_DEPTH:
            raise _parsing_error(f"the query is nested deeper than [{MAX_NESTED_DEPTH}] levels")
        if not isinstance(node, Mapping):
            raise _parsing_error("[_na] query malformed, must start with start_object")
        if not node:
            raise _parsing_error("query malformed, empty clause found")
        names = list(node)
        if len(names) > 1:
            raise _parsing_error(
                f"[{names[0]}] malformed query, expected [END_OBJECT] but found [FIELD_NAME]"
            )
        name = names[0]
        compiler = self.compilers.get(name)
        if compiler is None:
            if name in _UNSUPPORTED_QUERIES:
                raise _parsing_error(f"pertinent does not support the [{name}] query")
            raise _parsing_error(f"unknown query [{name}]")
        body = node[name]
        if not isinstance(body, Mapping):
            raise _parsing_error(f"[{name}] query malformed, no start_object after query name")
        return compiler(body, depth)

    def _resolve(self, name: str) -> _Target | None:
        if name == ITEM_ID:
            return _Target(ITEM_ID, "id")
        field = self.index.field(name)
        if field is None:
            return None
        return _Target(field.name, field.kind, field.integer)

    def _expand(self, pattern: str) -> list[_Target]:
        """A ``fields`` entry: an exact name, or a ``*`` pattern over the text and categorical fields."""
        if "*" not in pattern:
            target = self._resolve(pattern)
            return [] if target is None else [target]
        return [
            _Target(field.name, field.kind)
            for field in self.index.fields
            if field.kind in ("text", "categorical") and fnmatch.fnmatchcase(field.name, pattern)
        ]

    @staticmethod
    def _boosted(query: Query, boost: float) -> Query:
        return query if boost == 1.0 else Query.boost_query(query, boost)

    # -- exact values

    def _numeric(self, target: _Target, value: Any, lenient: bool) -> int | float | None:
        """``value`` as a number of ``target``'s type; None when it cannot match (OpenSearch matches nothing)."""
        if _is_number(value):
            number: float | None = float(value)
        elif isinstance(value, str):
            number = parse_java_double(value)
        else:
            number = None
        if number is None or math.isnan(number):
            if lenient:
                return None
            raise _shard_error(f'For input string: "{java_to_string(value)}"')
        if not target.integer:
            return number
        if isinstance(value, int) and not isinstance(value, bool):
            exact: int | float = value
        else:
            exact = number
        if isinstance(exact, float) and (math.isinf(exact) or not exact.is_integer()):
            if math.isinf(exact) and not lenient:
                raise _shard_error(f"Value [{java_to_string(value)}] is out of range for a long")
            return None  # a decimal part never equals a long
        whole = int(exact)
        if not _INT64[0] <= whole <= _INT64[1]:
            if lenient:
                return None
            raise _shard_error(f"Value [{java_to_string(value)}] is out of range for a long")
        return whole

    def _boolean(self, value: Any, lenient: bool) -> bool | None:
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return bool(value == "true")
        if value == "":
            return False  # OpenSearch reads an empty string as false
        if lenient:
            return None
        raise _shard_error(f"Can't parse boolean value [{java_to_string(value)}], expected [true] or [false]")

    def _exact(self, target: _Target, value: Any, lenient: bool = False) -> Query:
        """A ``term`` on ``target``: the value as one untokenized term."""
        if target.kind in ("numeric", "boolean"):
            typed: Any = (
                self._numeric(target, value, lenient)
                if target.kind == "numeric"
                else self._boolean(value, lenient)
            )
            if typed is None:
                return Query.empty_query()
            return Query.const_score_query(Query.term_query(self.schema, target.name, typed, "basic"), 1.0)
        field = raw_field_name(target.name) if target.kind == "categorical" else target.name
        return Query.term_query(self.schema, field, java_to_string(value), "freq")

    # -- full text

    def _tokens(self, text: str) -> list[tuple[int, str]]:
        tokens = self.index.analyze(text)
        if len(tokens) > MAX_CLAUSE_COUNT:
            raise SearchRequestError("too_many_clauses", f"maxClauseCount is set to {MAX_CLAUSE_COUNT}")
        return tokens

    def _field_match(
        self,
        target: _Target,
        text: str,
        *,
        operator: Literal["or", "and"] = "or",
        msm: Any = None,
        lenient: bool = False,
        phrase: bool = False,
        slop: int = 0,
    ) -> Query | None:
        """A ``match`` (or ``match_phrase``) of ``text`` on one field; None when ``text`` has no terms."""
        if target.kind != "text" and target.kind != "categorical":
            return self._exact(
                target, text, lenient
            )  # keyword, numeric and boolean fields match whole values
        tokens = self._tokens(text)
        if not tokens:
            return None
        if len(tokens) == 1:
            return Query.term_query(self.schema, target.name, tokens[0][1], "freq")
        if phrase:
            return Query.phrase_query(self.schema, target.name, list(tokens), slop)
        terms = [Query.term_query(self.schema, target.name, token, "freq") for _, token in tokens]
        if operator == "and":
            return Query.boolean_query([(Occur.Must, term) for term in terms])
        required = minimum_should_match(msm, len(terms)) if msm is not None else 0
        if required > 0 and required == len(terms):
            return Query.boolean_query([(Occur.Must, term) for term in terms])
        return Query.boolean_query([(Occur.Should, term) for term in terms], required or None)

    @staticmethod
    def _zero_terms_query(zero_terms: Literal["none", "all"]) -> Query:
        return Query.all_query() if zero_terms == "all" else Query.empty_query()

    def _match(self, body: Mapping[str, Any], depth: int) -> Query:
        field, value = _single_field("match", body)
        options: Mapping[str, Any] = value if isinstance(value, Mapping) else {"query": value}
        _check_keys("match", options, _PARAMS["match"])
        if "query" not in options:
            raise _parsing_error("No text specified for text query")
        text = _text_value("match", "query" if isinstance(value, Mapping) else field, options["query"])
        operator = _operator(options.get("operator", "or"))
        if options.get("minimum_should_match") is not None:
            minimum_should_match(options["minimum_should_match"], 0)  # reject a bad spec whatever the text
        lenient = _bool_param("match", "lenient", options.get("lenient", False))
        zero_terms = _zero_terms("match", options.get("zero_terms_query", "none"))
        boost = _boost("match", options.get("boost", 1.0))
        target = self._resolve(field)
        if target is None:
            return Query.empty_query()
        query = self._field_match(
            target, text, operator=operator, msm=options.get("minimum_should_match"), lenient=lenient
        )
        return self._boosted(self._zero_terms_query(zero_terms) if query is None else query, boost)

    def _match_phrase(self, body: Mapping[str, Any], depth: int) -> Query:
        field, value = _single_field("match_phrase", body)
        options: Mapping[str, Any] = value if isinstance(value, Mapping) else {"query": value}
        _check_keys("match_phrase", options, _PARAMS["match_phrase"])
        if "query" not in options:
            raise _parsing_error("No text specified for text query")
        text = _text_value("match_phrase", "query" if isinstance(value, Mapping) else field, options["query"])
        slop = _int_param("match_phrase", "slop", options.get("slop", 0))
        if slop < 0:
            raise SearchRequestError("illegal_argument_exception", "No negative slop allowed.")
        zero_terms = _zero_terms("match_phrase", options.get("zero_terms_query", "none"))
        boost = _boost("match_phrase", options.get("boost", 1.0))
        target = self._resolve(field)
        if target is None:
            return Query.empty_query()
        query = self._field_match(target, text, phrase=True, slop=slop)
        return self._boosted(self._zero_terms_query(zero_terms) if query is None else query, boost)

    def _multi_match(self, body: Mapping[str, Any], depth: int) -> Query:
        _check_keys("multi_match", body, _PARAMS["multi_match"])
        if "query" not in body or body["query"] is None:
            raise _parsing_error("No text specified for multi_match query")
        text = _text_value("multi_match", "query", body["query"])
        kind = body.get("type", "best_fields")
        if kind in ("cross_fields", "phrase_prefix", "bool_prefix"):
            raise _parsing_error(f"pertinent does not support [multi_match] type [{kind}]")
        if kind not in ("best_fields", "most_fields", "phrase"):
            raise SearchRequestError(
                "parse_exception",
                f"failed to parse [multi_match] query type [{java_to_string(kind)}]. unknown type.",
            )
        operator = _operator(body.get("operator", "or"))
        if body.get("minimum_should_match") is not None:
            minimum_should_match(body["minimum_should_match"], 0)
        tie_breaker = _tie_breaker("multi_match", body.get("tie_breaker", 0.0))
        lenient = _bool_param("multi_match", "lenient", body.get("lenient", False))
        slop = _int_param("multi_match", "slop", body.get("slop", 0))
        if slop < 0:
            raise SearchRequestError("illegal_argument_exception", "No negative slop allowed.")
        zero_terms = _zero_terms("multi_match", body.get("zero_terms_query", "none"))
        boost = _boost("multi_match", body.get("boost", 1.0))
        per_field: list[Query] = []
        seen: set[str] = set()
        for target, field_boost in self._multi_match_fields(body.get("fields")):
            if target.name in seen:
                continue
            seen.add(target.name)
            query = self._field_match(
                target,
                text,
                operator=operator,
                msm=body.get("minimum_should_match"),
                lenient=lenient,
                phrase=kind == "phrase",
                slop=slop,
            )
            if query is not None:
                per_field.append(self._boosted(query, field_boost))
        if not per_field:
            return self._boosted(self._zero_terms_query(zero_terms) if seen else Query.empty_query(), boost)
        if len(per_field) == 1:
            combined = per_field[0]
        elif kind == "most_fields":
            combined = Query.boolean_query([(Occur.Should, query) for query in per_field])
        else:
            combined = Query.disjunction_max_query(per_field, tie_breaker)
        return self._boosted(combined, boost)

    def _multi_match_fields(self, fields: Any) -> list[tuple[_Target, float]]:
        if fields is None:
            specs: list[Any] = ["*"]
        elif isinstance(fields, str):
            specs = [fields]
        elif isinstance(fields, list):
            specs = fields or ["*"]
        else:
            raise _parsing_error(f"[multi_match] unknown token [{xcontent_token(fields)}] after [fields]")
        resolved: list[tuple[_Target, float]] = []
        for spec in specs:
            if not isinstance(spec, str):
                raise _parsing_error(f"[multi_match] fields must be strings, got [{java_to_string(spec)}]")
            name, caret, boost_text = spec.partition("^")
            field_boost = 1.0
            if caret:
                parsed = parse_java_double(boost_text)
                if parsed is None or math.isnan(parsed) or math.isinf(parsed):
                    raise _parsing_error(f"[multi_match] invalid boost [{boost_text}] in field [{spec}]")
                if parsed < 0:
                    raise SearchRequestError(
                        "illegal_argument_exception", "negative [boost] are not allowed."
                    )
                field_boost = parsed
            resolved.extend((target, field_boost) for target in self._expand(name))
        return resolved

    def _match_all(self, body: Mapping[str, Any], depth: int) -> Query:
        _check_keys("match_all", body, _PARAMS["match_all"])
        return self._boosted(Query.all_query(), _boost("match_all", body.get("boost", 1.0)))

    def _match_none(self, body: Mapping[str, Any], depth: int) -> Query:
        _check_keys("match_none", body, _PARAMS["match_none"])
        _boost("match_none", body.get("boost", 1.0))
        return Query.empty_query()

    # -- term level

    def _term(self, body: Mapping[str, Any], depth: int) -> Query:
        field, value = _single_field("term", body)
        options: Mapping[str, Any] = value if isinstance(value, Mapping) else {"value": value}
        _check_keys("term", options, _PARAMS["term"])
        term = options.get("value")
        if term is None:
            raise SearchRequestError("illegal_argument_exception", "value cannot be null")
        if not (isinstance(term, str | bool) or _is_number(term)):
            raise _parsing_error(f"[term] unknown token [{xcontent_token(term)}] after [value]")
        boost = _boost("term", options.get("boost", 1.0))
        target = self._resolve(field)
        if target is None:
            return Query.empty_query()
        return self._boosted(self._exact(target, term), boost)

    def _terms(self, body: Mapping[str, Any], depth: int) -> Query:
        field, values = _single_field("terms", body, frozenset({"boost", "_name"}))
        if isinstance(values, Mapping):
            raise _parsing_error("pertinent does not support terms lookup in the [terms] query")
        if not isinstance(values, list):
            raise _parsing_error(f"[terms] query does not support [{field}]")
        if len(values) > MAX_TERMS_COUNT:
            raise SearchRequestError(
                "illegal_argument_exception",
                f"The number of terms [{len(values)}] used in the Terms Query request has exceeded the allowed "
                f"maximum of [{MAX_TERMS_COUNT}]. This maximum can be set by changing the [index.max_terms_count] "
                "index level setting.",
            )
        for value in values:
            if value is None or not (isinstance(value, str | bool) or _is_number(value)):
                raise _parsing_error(
                    f"[terms] values must be strings, numbers or booleans, got [{java_to_string(value)}]"
                )
        boost = _boost("terms", body.get("boost", 1.0))
        target = self._resolve(field)
        if target is None or not values:
            return Query.empty_query()
        return self._boosted(self._term_set(target, values), boost)

    def _term_set(self, target: _Target, values: Sequence[Any]) -> Query:
        """Any of ``values`` as exact terms, constant score 1."""
        if target.kind in ("numeric", "boolean"):
            queries = [self._exact(target, value) for value in values]
            return Query.const_score_query(Query.boolean_query([(Occur.Should, q) for q in queries]), 1.0)
        field = raw_field_name(target.name) if target.kind == "categorical" else target.name
        terms = list(dict.fromkeys(java_to_string(value) for value in values))
        return Query.const_score_query(Query.term_set_query(self.schema, field, terms), 1.0)

    def _ids(self, body: Mapping[str, Any], depth: int) -> Query:
        _check_keys("ids", body, _PARAMS["ids"])
        values = body.get("values", [])
        if not isinstance(values, list) or not all(
            isinstance(v, str | int) and not isinstance(v, bool) for v in values
        ):
            raise _parsing_error("[ids] [values] must be a list of ids")
        boost = _boost("ids", body.get("boost", 1.0))
        if not values:
            return Query.empty_query()
        return self._boosted(self._term_set(_Target(ITEM_ID, "id"), values), boost)

    def _range(self, body: Mapping[str, Any], depth: int) -> Query:
        field, options = _single_field("range", body)
        if not isinstance(options, Mapping):
            raise _parsing_error(f"[range] query malformed, no start_object after field name [{field}]")
        _check_keys("range", options, _PARAMS["range"])
        boost = _boost("range", options.get("boost", 1.0))
        target = self._resolve(field)
        if target is None:
            return Query.empty_query()
        if target.kind != "numeric":
            raise _shard_error(
                f"[range] queries run on numeric fields only; [{field}] is a {target.kind} field"
            )
        lower: float | None = None
        upper: float | None = None
        include_lower = include_upper = True
        for key, bound in options.items():  # like OpenSearch, a later bound overrides an earlier one
            if key not in ("gt", "gte", "lt", "lte") or bound is None:
                continue
            number = self._numeric(_Target(target.name, "numeric"), bound, lenient=False)
            assert number is not None
            if key in ("gt", "gte"):
                lower, include_lower = float(number), key == "gte"
            else:
                upper, include_upper = float(number), key == "lte"
        return self._boosted(self._numeric_range(target, lower, include_lower, upper, include_upper), boost)

    def _numeric_range(
        self,
        target: _Target,
        lower: float | None,
        include_lower: bool,
        upper: float | None,
        include_upper: bool,
    ) -> Query:
        if lower is not None and lower == -math.inf:
            lower = None
        if upper is not None and upper == math.inf:
            upper = None
        if (lower is not None and lower == math.inf) or (upper is not None and upper == -math.inf):
            return Query.empty_query()
        if lower is None and upper is None:
            return Query.exists_query(target.name)
        if target.integer:
            low = None if lower is None else (math.ceil(lower) if include_lower else math.floor(lower) + 1)
            high = None if upper is None else (math.floor(upper) if include_upper else math.ceil(upper) - 1)
            if low is not None and high is not None and low > high:
                return Query.empty_query()
            if (low is not None and low > _INT64[1]) or (high is not None and high < _INT64[0]):
                return Query.empty_query()
            low = None if low is None or low <= _INT64[0] else low
            high = None if high is None or high >= _INT64[1] else high
            if low is None and high is None:
                return Query.exists_query(target.name)
            return Query.range_query(self.schema, target.name, FieldType.Integer, low, high)
        if (
            lower is not None
            and upper is not None
            and (lower > upper or (lower == upper and not (include_lower and include_upper)))
        ):
            return Query.empty_query()
        return Query.range_query(
            self.schema,
            target.name,
            FieldType.Float,
            lower,
            upper,
            include_lower=include_lower or lower is None,
            include_upper=include_upper or upper is None,
        )

    # -- compound

    def _clauses(self, query: str, key: str, value: Any, depth: int) -> list[Query]:
        if isinstance(value, Mapping):
            return [self.compile(value, depth + 1)]
        if isinstance(value, list):
            return [self.compile(item, depth + 1) for item in value]
        raise _parsing_error(f"[{query}] query does not support [{key}]")

    def _bool(self, body: Mapping[str, Any], depth: int) -> Query:
        _check_keys("bool", body, _PARAMS["bool"])
        clauses = {
            key: self._clauses("bool", key, body[key], depth) if key in body else []
            for key in ("must", "filter", "should", "must_not")
        }
        if sum(len(queries) for queries in clauses.values()) > MAX_CLAUSE_COUNT:
            raise SearchRequestError("too_many_clauses", f"maxClauseCount is set to {MAX_CLAUSE_COUNT}")
        boost = _boost("bool", body.get("boost", 1.0))
        if "adjust_pure_negative" in body:
            _bool_param("bool", "adjust_pure_negative", body["adjust_pure_negative"])
        should = clauses["should"]
        required = bool(clauses["must"] or clauses["filter"])
        if "minimum_should_match" in body and body["minimum_should_match"] is not None:
            msm = minimum_should_match(body["minimum_should_match"], len(should))
        else:
            msm = 0 if required else min(1, len(should))
        if not any(clauses.values()):
            return self._boosted(Query.all_query(), boost)
        subqueries: list[tuple[Occur, Query]] = [(Occur.Must, q) for q in clauses["must"]]
        subqueries += [(Occur.Must, Query.const_score_query(q, 0.0)) for q in clauses["filter"]]
        subqueries += [(Occur.Should, q) for q in should]
        subqueries += [(Occur.MustNot, q) for q in clauses["must_not"]]
        if not required and not should:  # only must_not: everything else matches, scoring 0
            subqueries.append((Occur.Must, Query.const_score_query(Query.all_query(), 0.0)))
        if msm == len(should) and should:
            subqueries = [(Occur.Must if occur == Occur.Should else occur, q) for occur, q in subqueries]
            msm = 0
        return self._boosted(Query.boolean_query(subqueries, msm or None), boost)

    def _dis_max(self, body: Mapping[str, Any], depth: int) -> Query:
        _check_keys("dis_max", body, _PARAMS["dis_max"])
        if "queries" not in body:
            raise _parsing_error("[dis_max] requires 'queries' field with at least one clause")
        queries = self._clauses("dis_max", "queries", body["queries"], depth)
        if not queries:
            raise _parsing_error("[dis_max] requires 'queries' field with at least one clause")
        tie_breaker = _tie_breaker("dis_max", body.get("tie_breaker", 0.0))
        boost = _boost("dis_max", body.get("boost", 1.0))
        return self._boosted(Query.disjunction_max_query(queries, tie_breaker), boost)

    def _constant_score(self, body: Mapping[str, Any], depth: int) -> Query:
        _check_keys("constant_score", body, _PARAMS["constant_score"])
        if "filter" not in body:
            raise _parsing_error("[constant_score] requires a 'filter' element")
        inner = self.compile(body["filter"], depth + 1)
        return Query.const_score_query(inner, _boost("constant_score", body.get("boost", 1.0)))


def compile_query(index: ItemIndex, query: Mapping[str, Any]) -> tantivy.Query:
    """The tantivy query for the ``query`` part of a search body (``{"match": {...}}`` …)."""
    return _Compiler(index).compile(query)


# -- the body -----------------------------------------------------------------------------------------------


def _unknown_key(key: str, value: Any) -> SearchRequestError:
    return _parsing_error(f"Unknown key for a {xcontent_token(value)} in [{key}].")


def _page_number(key: str, value: Any) -> int:
    if isinstance(value, Mapping | list):
        raise _unknown_key(key, value)
    if isinstance(value, bool) or value is None:
        raise _parsing_error(f"[{key}] must be a number, not [{xcontent_token(value)}]")
    if isinstance(value, str):
        parsed = parse_java_double(value)
        if parsed is None or not math.isfinite(parsed) or not parsed.is_integer():
            raise SearchRequestError("number_format_exception", f'For input string: "{value}"')
        number = int(parsed)
    else:
        number = int(value) if isinstance(value, int) or math.isfinite(value) else 0
        if isinstance(value, float) and not math.isfinite(value):
            raise _parsing_error(f"[{key}] must be a finite number")
    if not _INT32[0] <= number <= _INT32[1]:
        raise SearchRequestError("x_content_parse_exception", f"Numeric value ({number}) out of range of int")
    if number < 0:
        raise SearchRequestError(
            "illegal_argument_exception", f"[{key}] parameter cannot be negative, found [{number}]"
        )
    return number


def _track_total_hits(value: Any) -> bool | int:
    if isinstance(value, bool):
        return value
    if isinstance(value, Mapping | list) or value is None:
        raise _unknown_key("track_total_hits", value)
    number = _int_param("track_total_hits", "track_total_hits", value)
    if number == -1:
        return False
    if number < -1:
        raise SearchRequestError(
            "illegal_argument_exception",
            f"[track_total_hits] parameter must be positive or equals to -1, got {number}",
        )
    return number


def _patterns(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise _parsing_error(f"[_source] [{key}] must be a string or a list of strings")


def _source_filter(value: Any) -> SourceFilter:
    if isinstance(value, bool):
        return SourceFilter(enabled=value)
    if isinstance(value, str | list):
        return SourceFilter(includes=_patterns(value, "includes"))
    if isinstance(value, Mapping):
        includes: tuple[str, ...] = ()
        excludes: tuple[str, ...] = ()
        for key, item in value.items():
            if key in ("includes", "include"):
                includes = _patterns(item, key)
            elif key in ("excludes", "exclude"):
                excludes = _patterns(item, key)
            else:
                raise _parsing_error(f"Unknown key for a {xcontent_token(item)} in [{key}].")
        return SourceFilter(includes=includes, excludes=excludes)
    raise _unknown_key("_source", value)


def _check_ext(value: Any) -> None:
    if not isinstance(value, Mapping):
        raise _unknown_key("ext", value)
    for key, item in value.items():
        if key != EXT_NAME:
            raise SearchRequestError("named_object_not_found_exception", f"unknown field [{key}]")
        parse_request_parameters(item)


def parse_search_body(index: ItemIndex, body: Mapping[str, Any] | None) -> SearchRequest:
    """Check a search body and compile its query; raises :class:`SearchRequestError` when it is malformed.

    Accepted keys: ``query`` (default ``match_all``), ``from`` (0), ``size`` (10), ``_source``,
    ``track_total_hits`` (10000), ``ext`` (``personalize_request_parameters``, checked here, used by the
    pipeline) and ``search_pipeline`` (an ad-hoc pipeline; one with a ``personalized_search_ranking``
    processor is refused as OpenSearch refuses it). ``from + size`` must not exceed 10000.
    """
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise _parsing_error(f"the search body must be a JSON object, not [{xcontent_token(body)}]")
    query: tantivy.Query | None = None
    from_, size = 0, DEFAULT_SIZE
    source = SourceFilter()
    track: bool | int = DEFAULT_TRACK_TOTAL_HITS
    for key, value in body.items():
        if key == "query":
            if not isinstance(value, Mapping):
                raise _unknown_key(key, value)
            query = compile_query(index, value)
        elif key == "from":
            from_ = _page_number(key, value)
        elif key == "size":
            size = _page_number(key, value)
        elif key == "_source":
            source = _source_filter(value)
        elif key == "track_total_hits":
            track = _track_total_hits(value)
        elif key == "ext":
            _check_ext(value)
        elif key == "search_pipeline":
            if not isinstance(value, Mapping):
                raise _unknown_key(key, value)
            parse_pipeline("_ad_hoc_pipeline", value, ad_hoc=True)
        elif key in _UNSUPPORTED_BODY_KEYS:
            raise _parsing_error(f"pertinent does not support [{key}] in a search body")
        else:
            raise _unknown_key(key, value)
    if from_ + size > MAX_RESULT_WINDOW:
        raise SearchRequestError(
            "illegal_argument_exception",
            f"Result window is too large, from + size must be less than or equal to: [{MAX_RESULT_WINDOW}] but "
            f"was [{from_ + size}]. See the scroll api for a more efficient way to request large data sets. This "
            "limit can be set by changing the [index.max_result_window] index level setting.",
        )
    return SearchRequest(
        query=Query.all_query() if query is None else query,
        from_=from_,
        size=size,
        source=source,
        track_total_hits=track,
    )


# -- running it -------------------------------------------------------------------------------------------


def execute(index: ItemIndex, request: SearchRequest, *, index_name: str = "items") -> dict[str, Any]:
    """Run a parsed request and build OpenSearch's response body (``took`` covers this call only)."""
    started = time.perf_counter()
    searcher = index.searcher()
    window = request.from_ + request.size
    count = request.track_total_hits is not False
    result = searcher.search(request.query, max(window, 1), count=count)
    found = result.hits
    page = found[request.from_ : window] if window else []
    hits: list[dict[str, Any]] = []
    for score, address in page:
        document = searcher.doc(address)
        hit: dict[str, Any] = {"_index": index_name, "_id": document.get_first(ITEM_ID), "_score": score}
        if request.source.enabled:
            hit["_source"] = request.source.apply(index.stored_source(document))
        hits.append(hit)
    body: dict[str, Any] = {}
    if count:
        counted = getattr(result, "count", None)  # missing from tantivy's type stubs
        total = int(counted if counted is not None else len(found))
        limit = request.track_total_hits
        if limit is True or total <= int(limit):
            body["total"] = {"value": total, "relation": "eq"}
        else:
            body["total"] = {"value": int(limit), "relation": "gte"}
    body["max_score"] = float(found[0][0]) if found and window else None
    body["hits"] = hits
    return {
        "took": int((time.perf_counter() - started) * 1000),
        "timed_out": False,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": body,
    }


def search(index: ItemIndex, body: Mapping[str, Any] | None, *, index_name: str = "items") -> dict[str, Any]:
    """Parse ``body`` and run it: OpenSearch's ``_search`` on one index, ``took`` covering both steps."""
    started = time.perf_counter()
    response = execute(index, parse_search_body(index, body), index_name=index_name)
    response["took"] = int((time.perf_counter() - started) * 1000)
    return response


def raw_search(
    index: ItemIndex, query: tantivy.Query, limit: int, *, count: bool = True
) -> list[tuple[float, tantivy.Document]]:
    """tantivy alone: top ``limit`` hits of a prepared query with their stored documents (the baseline)."""
    searcher = index.searcher()
    return [
        (score, searcher.doc(address)) for score, address in searcher.search(query, limit, count=count).hits
    ]
