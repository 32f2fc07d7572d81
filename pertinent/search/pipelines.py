"""Search pipelines with the ``personalized_search_ranking`` response processor, as OpenSearch runs them.

Three parts, each reproducing the plugin and OpenSearch's search-pipeline core (reference/personalized-search.md
§1, §2):

* :func:`parse_pipeline` reads a ``PUT /_search/pipeline/<id>`` body into a :class:`SearchPipeline`, with the
  core's and the plugin's property order and their exact error texts (``[weight] invalid value for weight`` …).
* :func:`parse_request_parameters` reads ``ext.personalize_request_parameters`` of a search body
  (``user_id``, ``context``) as the plugin's ``ObjectParser`` does; :func:`request_parameters_from_body`
  finds it in a body.
* :func:`apply_pipeline` runs one processor on a search response: it asks ``ranker(user_id, item_ids,
  context)`` for the personalized order of the page's ids (the service connects it to
  GetPersonalizedRanking), blends it with :func:`pertinent.search.rerank.rerank`, and honours
  ``ignore_failure``. :func:`apply_search_pipeline` runs every processor of a pipeline in turn.

Where we deliberately differ from the plugin (also listed in docs/search.md):

* ``weight`` ``NaN`` is rejected (``[weight] invalid value for weight``); Java's range check lets it through.
* An id missing from the ranker's answer, or a hit without an id, ranks after the ranked ids instead of
  jumping to the top with ``+inf`` or failing with a NullPointerException (see :mod:`pertinent.search.rerank`).
* More than 500 distinct ids (Personalize's ``inputList`` limit) are ranked in chunks of 500, concatenated;
  the plugin's single call fails. Repeated ids are sent once.
* Where OpenSearch answers 500 because of a Java cast (a processor config that is not an object), we answer 400
  with the text OpenSearch's ingest pipelines use for the same mistake.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pertinent.errors import PersonalizeError
from pertinent.java_compat import (
    java_class_name,
    java_hashmap_order,
    java_is_blank,
    java_to_string,
    parse_java_double,
    parse_java_int,
    xcontent_token,
)
from pertinent.search.errors import SearchPipelineProcessingError, SearchRequestError
from pertinent.search.rerank import blended_max_score, item_id_of, rerank

PROCESSOR_TYPE = "personalized_search_ranking"
EXT_NAME = "personalize_request_parameters"
SUPPORTED_RECIPES = frozenset({"aws-personalized-ranking", "aws-personalized-ranking-v2"})
PERSONALIZE_INPUT_LIMIT = 500  # GetPersonalizedRanking's inputList maximum

Ranker = Callable[[str, list[str], dict[str, str]], Sequence[str]]
"""``ranker(user_id, item_ids, context) -> item_ids`` in personalized order (best first)."""

_LOGGER = logging.getLogger(__name__)
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


@dataclass(frozen=True)
class PersonalizedRankingProcessor:
    """One ``personalized_search_ranking`` processor of a pipeline, validated.

    ``item_id_field`` None (or blank) means the hit's ``_id``. ``tag``, ``description`` and
    ``ignore_failure`` are read by OpenSearch's core for every processor.
    """

    campaign_arn: str
    recipe: str
    aws_region: str
    weight: float
    item_id_field: str | None = None
    iam_role_arn: str | None = None
    tag: str | None = None
    description: str | None = None
    ignore_failure: bool = False

    @property
    def name(self) -> str:
        """``personalized_search_ranking`` or ``personalized_search_ranking:<tag>`` (OpenSearch's stats key)."""
        return PROCESSOR_TYPE if self.tag is None else f"{PROCESSOR_TYPE}:{self.tag}"


@dataclass(frozen=True)
class SearchPipeline:
    """A named search pipeline: its response processors in order (we implement no request processors)."""

    pipeline_id: str
    description: str | None
    version: int | None
    response_processors: tuple[PersonalizedRankingProcessor, ...]


@dataclass(frozen=True)
class PersonalizeRequestParameters:
    """``ext.personalize_request_parameters`` of a search body, as parsed (checked again at re-rank time)."""

    user_id: str | None = None
    context: Mapping[str, Any] | None = None


@dataclass
class ProcessorStats:
    """Counters of one processor, like OpenSearch's pipeline stats; the caller owns and keeps the instance."""

    count: int = 0
    time_in_millis: float = 0.0
    failed: int = 0


# -- configuration errors ------------------------------------------------------------------------------


def _config_error(
    reason: str,
    *,
    property_name: str | None = None,
    processor_type: str | None = None,
    processor_tag: str | None = None,
) -> SearchRequestError:
    """``ConfigurationUtils.newConfigurationException``: ``[property] reason`` plus the same metadata."""
    message = reason if property_name is None else f"[{property_name}] {reason}"
    metadata: dict[str, str] = {}
    if processor_type is not None:
        metadata["processor_type"] = processor_type
    if processor_tag is not None:
        metadata["processor_tag"] = processor_tag
    if property_name is not None:
        metadata["property_name"] = property_name
    return SearchRequestError("parse_exception", message, metadata=metadata)


@dataclass
class _Config:
    """A configuration map that properties are removed from as they are read (ConfigurationUtils' way)."""

    values: dict[str, Any]
    processor_type: str | None = None
    processor_tag: str | None = None

    def _error(self, name: str, reason: str) -> SearchRequestError:
        return _config_error(
            reason, property_name=name, processor_type=self.processor_type, processor_tag=self.processor_tag
        )

    def optional_string(self, name: str) -> str | None:
        value = self.values.pop(name, None)
        if value is None or isinstance(value, str):
            return value
        raise self._error(name, f"property isn't a string, but of type [{java_class_name(value)}]")

    def string(self, name: str) -> str:
        if self.values.get(name) is None:
            self.values.pop(name, None)
            raise self._error(name, "required property is missing")
        value = self.optional_string(name)
        assert value is not None
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.values.pop(name, None)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        raise self._error(name, f"property isn't a boolean, but of type [{java_class_name(value)}]")

    def double(self, name: str) -> float:
        value = self.values.pop(name, None)
        if value is None:
            raise self._error(name, "required property is missing")
        text = java_to_string(value)
        parsed = parse_java_double(text)
        if parsed is None:
            raise self._error(name, f"property cannot be converted to a double [{text}]")
        return parsed

    def optional_int(self, name: str) -> int | None:
        value = self.values.pop(name, None)
        if value is None:
            return None
        text = java_to_string(value)
        parsed = parse_java_int(text)
        if parsed is None:
            raise self._error(name, f"property cannot be converted to an int [{text}]")
        return parsed

    def optional_list(self, name: str) -> list[Any] | None:
        value = self.values.pop(name, None)
        if value is None:
            return None
        if isinstance(value, list):
            return value
        raise self._error(name, f"property isn't a list, but of type [{java_class_name(value)}]")


# -- pipeline configuration ------------------------------------------------------------------------------


def _is_arn_of(arn: str, service: str) -> bool:
    """AWS SDK v1 ``Arn.fromString(arn).getService().equals(service)`` (False where it throws)."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return False
    partition, arn_service, _region, _account, resource = parts[1:]
    if not partition or not arn_service or not resource:
        return False
    return arn_service == service


def parse_processor(config: Any, *, ad_hoc: bool = False) -> PersonalizedRankingProcessor:
    """Read the body of one ``{"personalized_search_ranking": {...}}`` entry.

    Properties are read in OpenSearch's order: ``tag``, ``ignore_failure``, ``description`` (the core), then
    ``campaign_arn``, ``iam_role_arn``, ``recipe``, ``item_id_field``, ``aws_region``, ``weight`` (the
    plugin), then the weight range, campaign ARN, IAM role ARN and recipe are validated, then leftover keys
    are rejected; the first problem in that sequence is the one reported. ``ad_hoc`` is True for a pipeline
    defined inside a search request, which the plugin refuses.
    """
    if config is None:
        raise _config_error(
            f"the config of processor [{PROCESSOR_TYPE}] cannot be null", processor_type=PROCESSOR_TYPE
        )
    if not isinstance(config, Mapping):
        raise _config_error(
            f"property isn't a map, but of type [{java_class_name(config)}]", processor_type=PROCESSOR_TYPE
        )
    inserted = len(config)
    core = _Config(dict(config))
    tag = core.optional_string("tag")
    ignore_failure = core.boolean("ignore_failure", False)
    description = _Config(core.values, None, tag).optional_string("description")

    plugin = _Config(core.values, PROCESSOR_TYPE, tag)
    campaign_arn = plugin.string("campaign_arn")
    iam_role_arn = plugin.optional_string("iam_role_arn")
    recipe = plugin.string("recipe")
    item_id_field = plugin.optional_string("item_id_field")
    aws_region = plugin.string("aws_region")
    weight = plugin.double("weight")

    if not 0.0 <= weight <= 1.0:  # also rejects NaN, which Java's `w < 0 || w > 1` lets through
        raise plugin._error("weight", "invalid value for weight")
    if not _is_arn_of(campaign_arn, "personalize"):
        raise plugin._error("campaign_arn", "invalid format for Personalize campaign arn")
    if not java_is_blank(iam_role_arn) and not _is_arn_of(iam_role_arn or "", "iam"):
        raise plugin._error("iam_role_arn", "invalid format for Personalize iam role arn")
    if recipe not in SUPPORTED_RECIPES:
        raise plugin._error("recipe", "not supported recipe provided")
    if ad_hoc:
        raise SearchRequestError(
            "illegal_state_exception",
            f"{PROCESSOR_TYPE} processor may not be instantiated as part of a search request. "
            "Create a named search pipeline instead.",
            status=400,  # OpenSearch answers 500 (an IllegalStateException); it is the request's fault
        )
    if plugin.values:
        name = PROCESSOR_TYPE if tag is None else f"{PROCESSOR_TYPE}:{tag}"
        leftover = ", ".join(java_hashmap_order(list(plugin.values), inserted))
        raise SearchRequestError(
            "parse_exception",
            f"processor [{name}] doesn't support one or more provided configuration parameters: [{leftover}]",
        )
    return PersonalizedRankingProcessor(
        campaign_arn=campaign_arn,
        recipe=recipe,
        aws_region=aws_region,
        weight=weight,
        item_id_field=None if java_is_blank(item_id_field) else item_id_field,
        iam_role_arn=None if java_is_blank(iam_role_arn) else iam_role_arn,
        tag=tag,
        description=description,
        ignore_failure=ignore_failure,
    )


def _read_processors(
    entries: list[Any] | None, supported: frozenset[str], *, ad_hoc: bool
) -> list[PersonalizedRankingProcessor]:
    processors: list[PersonalizedRankingProcessor] = []
    for entry in entries or []:
        if not isinstance(entry, Mapping):
            raise _config_error(f"property isn't a map, but of type [{java_class_name(entry)}]")
        for processor_type in java_hashmap_order(list(entry)):
            if processor_type not in supported:
                raise SearchRequestError(
                    "illegal_argument_exception", f"Invalid processor type {processor_type}"
                )
            processors.append(parse_processor(entry[processor_type], ad_hoc=ad_hoc))
    return processors


def parse_pipeline(pipeline_id: str, body: Any, *, ad_hoc: bool = False) -> SearchPipeline:
    """Read a search pipeline body: ``{"description", "version", "response_processors": [...]}``.

    Follows ``PipelineWithMetrics.create``: ``description``, ``version``, ``request_processors`` (we have
    none, so any entry is an ``Invalid processor type``), ``response_processors`` (only
    ``personalized_search_ranking``), ``phase_results_processors`` (none), then leftover keys. Raises
    :class:`SearchRequestError` with OpenSearch's type, text and metadata.
    """
    if not isinstance(body, Mapping):
        raise SearchRequestError(
            "parse_exception", f"the pipeline must be a JSON object, not [{java_class_name(body)}]"
        )
    inserted = len(body)
    config = _Config(dict(body))
    description = config.optional_string("description")
    version = config.optional_int("version")
    _read_processors(config.optional_list("request_processors"), frozenset(), ad_hoc=ad_hoc)
    response = _read_processors(
        config.optional_list("response_processors"), frozenset({PROCESSOR_TYPE}), ad_hoc=ad_hoc
    )
    _read_processors(config.optional_list("phase_results_processors"), frozenset(), ad_hoc=ad_hoc)
    if config.values:
        leftover = ", ".join(java_hashmap_order(list(config.values), inserted))
        raise SearchRequestError(
            "parse_exception",
            f"pipeline [{pipeline_id}] doesn't support one or more provided configuration parameters [{leftover}]",
        )
    return SearchPipeline(pipeline_id, description, version, tuple(response))


# -- ext.personalize_request_parameters --------------------------------------------------------------------


def _ext_error(reason: str) -> SearchRequestError:
    return SearchRequestError("x_content_parse_exception", f"[{EXT_NAME}] {reason}")


def parse_request_parameters(value: Any) -> PersonalizeRequestParameters:
    """Parse the value of ``ext.personalize_request_parameters`` like the plugin's ``ObjectParser``.

    ``user_id`` must be a JSON string and ``context`` a JSON object; any other key is an unknown field. Both
    are optional here: a missing or blank ``user_id`` only fails when a processor re-ranks
    (:func:`apply_pipeline`), as in the plugin.
    """
    if not isinstance(value, Mapping):
        raise _ext_error(f"Expected START_OBJECT but was: {xcontent_token(value)}")
    user_id: str | None = None
    context: Mapping[str, Any] | None = None
    for key, item in value.items():
        if key == "user_id":
            if not isinstance(item, str):
                raise _ext_error(f"user_id doesn't support values of type: {xcontent_token(item)}")
            user_id = item
        elif key == "context":
            if not isinstance(item, Mapping):
                raise _ext_error(f"context doesn't support values of type: {xcontent_token(item)}")
            context = dict(item)
        else:
            raise _ext_error(f"unknown field [{key}]")
    return PersonalizeRequestParameters(user_id, context)


def request_parameters_from_body(body: Mapping[str, Any] | None) -> PersonalizeRequestParameters | None:
    """The parsed ``ext.personalize_request_parameters`` of a search body, or None where it has none."""
    if not body:
        return None
    ext = body.get("ext")
    if not isinstance(ext, Mapping) or EXT_NAME not in ext:
        return None
    return parse_request_parameters(ext[EXT_NAME])


def _rerank_time_error(property_name: str, reason: str) -> SearchRequestError:
    # The plugin throws these with processor tag "" (not the configured tag).
    return _config_error(reason, property_name=property_name, processor_type=PROCESSOR_TYPE, processor_tag="")


def validated_user(user_id: str | None, context: Mapping[str, Any] | None) -> tuple[str, dict[str, str]]:
    """The re-rank-time checks of ``AmazonPersonalizedRankerImpl``: a non-blank user id, string context values.

    Returns the user id and the context as ``dict[str, str]`` (empty when absent).
    """
    if user_id is None or java_is_blank(user_id):
        raise _rerank_time_error("user_id", "required Personalize request parameter is missing")
    checked: dict[str, str] = {}
    if context is not None:
        for key in java_hashmap_order(list(context)):
            value = context[key]
            if not isinstance(value, str):
                raise _rerank_time_error(
                    "context",
                    "Personalize context value is not of type String. Invalid context value: "
                    + java_to_string(value),
                )
            checked[key] = value
    return user_id, {key: checked[key] for key in context or {}}


# -- running a processor -------------------------------------------------------------------------------------


def _snake_case(name: str) -> str:
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def _as_search_error(error: Exception) -> SearchRequestError:
    """How OpenSearch reports an exception escaping the processor.

    A :class:`SearchRequestError` stays as it is. A Personalize client error (HTTP 4xx) becomes a 400
    ``illegal_argument_exception``, as the plugin rethrows it; anything else is a 500 named after the
    exception's class, as OpenSearch names a foreign exception.
    """
    if isinstance(error, SearchRequestError):
        return error
    if isinstance(error, PersonalizeError):
        if 400 <= error.http_status < 500:
            return SearchRequestError("illegal_argument_exception", f"{error.code}: {error.message}")
        return SearchRequestError(_snake_case(error.code), error.message, status=500)
    return SearchRequestError(_snake_case(type(error).__name__), str(error), status=500)


def _hits_of(response: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    hits = response.get("hits")
    page = hits.get("hits") if isinstance(hits, Mapping) else None
    if not isinstance(page, list):
        raise ValueError("a search response needs hits.hits, a list of hit objects")
    return page


def _personalized_order(
    ranker: Ranker, user_id: str, item_ids: list[str], context: dict[str, str]
) -> list[str]:
    order: list[str] = []
    for start in range(0, len(item_ids), PERSONALIZE_INPUT_LIMIT):
        ranked = ranker(user_id, item_ids[start : start + PERSONALIZE_INPUT_LIMIT], dict(context))
        if isinstance(ranked, str) or not all(isinstance(item, str) for item in ranked):
            raise TypeError("the ranker must return a sequence of item id strings")
        order.extend(ranked)
    return order


def _process(
    response: Mapping[str, Any],
    processor: PersonalizedRankingProcessor,
    ranker: Ranker,
    user_id: str | None,
    context: Mapping[str, Any] | None,
) -> dict[str, Any]:
    page = _hits_of(response)
    if not page:
        return dict(response)  # the plugin returns at once: no validation, no call
    user, checked_context = validated_user(user_id, context)
    if processor.weight == 0:
        return dict(response)
    started = time.perf_counter()
    hit_ids = [item_id_of(hit, processor.item_id_field) for hit in page]
    distinct = list(dict.fromkeys(item for item in hit_ids if item is not None))
    if not distinct:
        raise _rerank_time_error(
            "item_id_field",
            "no item ids found to apply Personalized reranking. Please check configured value for item_id_field",
        )
    personalized = _personalized_order(ranker, user, distinct, checked_context)
    reranked = rerank(page, personalized, processor.weight, processor.item_id_field)
    elapsed_ms = int((time.perf_counter() - started) * 1000)
    hits = dict(response["hits"])
    hits["hits"] = reranked
    hits["max_score"] = blended_max_score(reranked)
    result = dict(response)
    result["hits"] = hits
    took = response.get("took")
    if isinstance(took, int) and not isinstance(took, bool):
        result["took"] = took + elapsed_ms
    return result


def apply_pipeline(
    response: Mapping[str, Any],
    processor: PersonalizedRankingProcessor,
    ranker: Ranker,
    user_id: str | None,
    context: Mapping[str, Any] | None,
    *,
    pipeline_id: str = "",
    stats: ProcessorStats | None = None,
) -> dict[str, Any]:
    """Re-rank one page of a search response with ``processor``, as the plugin's response processor does.

    ``response`` is an OpenSearch response body (ours or a real cluster's); only ``hits.hits`` (the page),
    ``hits.max_score`` and ``took`` change, in a new dict. ``ranker(user_id, item_ids, context)`` returns
    the ids in personalized order. An empty page is returned at once. Otherwise ``user_id`` must be non-blank
    and every ``context`` value a string (even at weight 0, as in the plugin); weight 0 then returns the
    response unchanged.

    A failure (a bad request parameter, a ranker exception) raises :class:`SearchPipelineProcessingError`,
    whose REST body is the cause's; with ``ignore_failure`` it is logged as OpenSearch logs it, counted in
    ``stats.failed``, and the un-reranked response is returned.
    """
    _hits_of(response)  # a malformed response is the caller's bug, never an ignorable failure
    started = time.perf_counter()
    try:
        result = _process(response, processor, ranker, user_id, context)
    except Exception as error:  # every processor failure is reported or ignored alike
        cause = _as_search_error(error)
        if stats is not None:
            stats.count += 1
            stats.failed += 1
            stats.time_in_millis += (time.perf_counter() - started) * 1000
        if processor.ignore_failure:
            _LOGGER.warning(
                "The exception from response processor [%s] in the search pipeline [%s] was ignored",
                PROCESSOR_TYPE,
                pipeline_id,
                exc_info=error,
            )
            return dict(response)
        raise SearchPipelineProcessingError(
            cause, pipeline_id=pipeline_id, processor=processor.name
        ) from error
    if stats is not None:
        stats.count += 1
        stats.time_in_millis += (time.perf_counter() - started) * 1000
    return result


def apply_search_pipeline(
    pipeline: SearchPipeline,
    response: Mapping[str, Any],
    ranker: Ranker,
    parameters: PersonalizeRequestParameters | None,
    *,
    stats: Mapping[str, ProcessorStats] | None = None,
) -> dict[str, Any]:
    """Run every response processor of ``pipeline`` in order, each on the previous one's output.

    ``parameters`` is the search body's ``ext.personalize_request_parameters`` (see
    :func:`request_parameters_from_body`); ``stats`` maps a processor's :attr:`~PersonalizedRankingProcessor.name`
    to its counters.
    """
    user_id = parameters.user_id if parameters is not None else None
    context = parameters.context if parameters is not None else None
    result = dict(response)
    for processor in pipeline.response_processors:
        result = apply_pipeline(
            result,
            processor,
            ranker,
            user_id,
            context,
            pipeline_id=pipeline.pipeline_id,
            stats=stats.get(processor.name) if stats is not None else None,
        )
    return result
