"""The "try it" logic shared by the campaign panel and the filter tester: ask the campaign, label the
answer with titles and tags, and record an event through the group's event tracker."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pertinent import arns
from pertinent.console.base import Console
from pertinent.console.items import ItemLabeler
from pertinent.control.common import Record
from pertinent.errors import InvalidInputException, ResourceInUseException
from pertinent.resources.status import ACTIVE
from pertinent.serving.campaigns import LoadedCampaign
from pertinent.serving.group_data import group_datasets

MAX_INPUT_LIST = 100
_SEPARATORS = re.compile(r"[\s,]+")


@dataclass(frozen=True)
class Question:
    """What the console asks a campaign (the subset of GetRecommendations/GetPersonalizedRanking it uses)."""

    user_id: str = ""
    item_id: str = ""
    input_list: tuple[str, ...] = ()
    num_results: int = 10
    filter_arn: str | None = None
    filter_values: Mapping[str, str] | None = None
    context: Mapping[str, str] | None = None


def pairs(text: str) -> dict[str, str]:
    """``"DEVICE=mobile; GENRE=Comedy, Drama"`` → ``{"DEVICE": "mobile", "GENRE": "Comedy, Drama"}``."""
    found: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise InvalidInputException(
                f"Write each entry as NAME=value (separated by ';'), not {part.strip()!r}."
            )
        found[name.strip()] = value.strip()
    return found


@dataclass(frozen=True)
class Answer:
    loaded: LoadedCampaign
    labeler: ItemLabeler
    items: list[dict[str, Any]]
    recommendation_id: str


def split_ids(text: str) -> tuple[str, ...]:
    """``"m1, m2 m3"`` → ``("m1", "m2", "m3")`` (commas or whitespace), at most MAX_INPUT_LIST ids."""
    ids = tuple(dict.fromkeys(part for part in _SEPARATORS.split(text) if part))
    if len(ids) > MAX_INPUT_LIST:
        raise InvalidInputException(f"The console ranks at most {MAX_INPUT_LIST} items at a time.")
    return ids


def labeler_for(console: Console, loaded: LoadedCampaign) -> ItemLabeler:
    """Titles and tags for the campaign's items, from the group's catalog (cached by the recommender)."""
    group = loaded.dataset_group_arn
    catalog = console.recommender.data.catalog(group, loaded.version_arn, loaded.model.item_ids)
    items = group_datasets(console.ctx, group).get("ITEMS")
    return ItemLabeler(catalog, items.schema if items else None)


def loaded_target(console: Console, arn: str) -> LoadedCampaign:
    """The served model of a campaign or a domain recommender (by its ARN)."""
    if arns.parse(arn).kind == "recommender":
        return console.recommender.campaigns.get_recommender(arn)
    return console.recommender.campaigns.get(arn)


def ask(console: Console, campaign_arn: str, question: Question) -> Answer:
    """Ask the campaign (or recommender) exactly as the runtime API would, and label each item."""
    recommender = console.recommender
    loaded = loaded_target(console, campaign_arn)
    is_recommender = arns.parse(campaign_arn).kind == "recommender"
    if loaded.recipe_type == "PERSONALIZED_RANKING":
        if not question.user_id or not question.input_list:
            raise InvalidInputException(
                f"Campaign {campaign_arn} ranks a list of items ({loaded.recipe_name}): give a user id and "
                "the item ids to rank."
            )
        raw = recommender.get_personalized_ranking(
            campaign_arn=campaign_arn,
            input_list=list(question.input_list),
            user_id=question.user_id,
            filter_arn=question.filter_arn,
            filter_values=question.filter_values,
        )
        entries = raw["personalized_ranking"]
    else:
        raw = recommender.get_recommendations(
            campaign_arn=None if is_recommender else campaign_arn,
            recommender_arn=campaign_arn if is_recommender else None,
            user_id=question.user_id or None,
            item_id=question.item_id or None,
            num_results=question.num_results,
            context=question.context or None,
            filter_arn=question.filter_arn,
            filter_values=question.filter_values,
        )
        entries = raw["item_list"]
    labeler = labeler_for(console, loaded)
    items = []
    for rank, entry in enumerate(entries, start=1):
        item = {**labeler.view(entry["item_id"]).as_json(), "rank": rank, "score": entry.get("score")}
        if entry.get("promotion_name"):
            item["promotion_name"] = entry["promotion_name"]
        items.append(item)
    return Answer(loaded, labeler, items, str(raw["recommendation_id"]))


def event_tracker(console: Console, dataset_group_arn: str) -> Record:
    """The group's ACTIVE event tracker, or an error telling how to create one."""
    trackers = console.ctx.store.list("event-tracker", dataset_group_arn)
    if not trackers:
        raise InvalidInputException(
            f"Dataset group {dataset_group_arn} has no event tracker, so events cannot be recorded; create "
            "one with CreateEventTracker (boto3: personalize.create_event_tracker)."
        )
    tracker = trackers[0]
    if tracker.get("status") != ACTIVE:
        raise ResourceInUseException(
            f"Event tracker {tracker['event_tracker_arn']} is {tracker.get('status')}; wait until it is ACTIVE."
        )
    return tracker


def send_event(
    console: Console,
    dataset_group_arn: str,
    user_id: str,
    item_id: str,
    event_type: str,
    event_value: float | None = None,
    recommendation_id: str | None = None,
) -> dict[str, Any]:
    """Record one interaction through PutEvents (the same validation and event log as the events API)."""
    tracker = event_tracker(console, dataset_group_arn)
    event: dict[str, Any] = {"event_type": event_type, "item_id": item_id, "sent_at": console.ctx.now()}
    if event_value is not None:
        event["event_value"] = event_value
    if recommendation_id:
        event["recommendation_id"] = recommendation_id
    session_id = f"console-{user_id}"
    console.ingest.put_events(
        tracking_id=tracker["tracking_id"], session_id=session_id, user_id=user_id, event_list=[event]
    )
    return {
        "user_id": user_id,
        "session_id": session_id,
        "item_id": item_id,
        "event_type": event_type,
        "event_value": event_value,
        "sent_at": event["sent_at"],
        "event_tracker": tracker["name"],
    }
