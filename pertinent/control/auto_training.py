"""Automatic training: new solution versions on the solution's schedule, and campaigns that follow them.

As Personalize documents it (https://docs.aws.amazon.com/personalize/latest/dg/solution-config-auto-training.html):
a solution with ``performAutoTraining`` (the default) gets its first automatic version one hour after it
was created — skipped when a version was created manually in that hour — and then one every ``N`` days of
``solutionConfig.autoTrainingConfig.schedulingExpression`` ``rate(N days)`` (``N`` 1–30, default 7).
Automatic versions have ``trainingType`` AUTOMATIC and ``trainingMode`` AUTOTRAIN. A campaign created on
``…/solution/{name}/$LATEST`` with ``campaignConfig.syncWithLatestSolutionVersion`` moves to each new
ACTIVE version of its solution when training ends.

The worker calls :func:`queue_due_auto_training` from its periodic tasks; the time is ``ctx.now()``, so a
test (or a simulation) that replaces ``ctx.clock`` runs a schedule of days in seconds.
"""

from __future__ import annotations

import re

from pertinent.caller import Caller, acting_as
from pertinent.control.common import Record
from pertinent.control.context import Context
from pertinent.errors import InvalidInputException, PersonalizeError
from pertinent.resources.status import ACTIVE, IN_FLIGHT

FIRST_TRAINING_SECONDS = 3600.0
DAY_SECONDS = 86_400.0
DEFAULT_SCHEDULE = "rate(7 days)"
_RATE = re.compile(r"^rate\((\d+) days?\)$")


def schedule_days(expression: str | None) -> int:
    """The ``N`` of ``rate(N days)``; InvalidInputException outside Personalize's 1–30."""
    match = _RATE.match((expression or DEFAULT_SCHEDULE).strip())
    days = int(match.group(1)) if match else 0
    if not 1 <= days <= 30:
        raise InvalidInputException(
            f"autoTrainingConfig.schedulingExpression must be rate(N days) with N from 1 to 30, not "
            f"{expression!r}."
        )
    return days


def check_solution_config(config: Record | None) -> None:
    """Refuse a schedule the trainer could not follow (CreateSolution / UpdateSolution)."""
    auto = (config or {}).get("auto_training_config") or {}
    if auto.get("scheduling_expression") is not None:
        schedule_days(auto["scheduling_expression"])


def _schedule(solution: Record) -> int:
    auto = (solution.get("solution_config") or {}).get("auto_training_config") or {}
    try:
        return schedule_days(auto.get("scheduling_expression"))
    except InvalidInputException:
        return schedule_days(DEFAULT_SCHEDULE)


def queue_due_auto_training(ctx: Context) -> list[str]:
    """Create the automatic solution versions that are due; returns their ARNs."""
    from pertinent.control.solutions import create_solution_version

    now = ctx.now()
    created: list[str] = []
    for solution in ctx.store.list("solution"):
        if solution.get("status") != ACTIVE or not solution.get("perform_auto_training"):
            continue
        first = solution.get("auto_training_next") is None
        due = float(
            solution.get("auto_training_next")
            or float(solution["creation_date_time"]) + FIRST_TRAINING_SECONDS
        )
        if now < due:
            continue
        versions = ctx.store.list("solution-version", solution["solution_arn"])
        if any(v.get("status") in IN_FLIGHT for v in versions):
            continue  # due, but training already: check again on the next tick
        period = _schedule(solution) * DAY_SECONDS
        following = due + period
        while following <= now:  # a clock that jumped ahead trains once, not once per missed period
            following += period
        skip = first and any(v.get("training_type", "MANUAL") == "MANUAL" for v in versions)
        claimed = False

        def claim(
            current: Record,
            expected: object = solution.get("auto_training_next"),
            following: float = following,
        ) -> Record:
            nonlocal claimed
            if current.get("auto_training_next") != expected:
                return current  # another worker took this turn
            claimed = True
            return {**current, "auto_training_next": following}

        ctx.store.update(solution["solution_arn"], claim)
        if not claimed or skip:
            continue
        try:
            with acting_as(Caller.owner_of(solution["solution_arn"])):  # the version is the owner's
                arn = create_solution_version(
                    ctx,
                    solution_arn=solution["solution_arn"],
                    training_type="AUTOMATIC",
                    training_mode="AUTOTRAIN",
                )["solution_version_arn"]
        except PersonalizeError:
            continue
        created.append(arn)
    return created


def follow_latest(ctx: Context, version: Record) -> list[str]:
    """Point every ``$LATEST`` campaign that syncs with its solution at the newly ACTIVE ``version``."""
    moved: list[str] = []
    now = ctx.now()
    for campaign in ctx.store.list("campaign", version["solution_arn"]):
        config = campaign.get("campaign_config") or {}
        if not config.get("sync_with_latest_solution_version"):
            continue
        if campaign.get("resolved_solution_version_arn") == version["solution_version_arn"]:
            continue
        update = {
            "solution_version_arn": version["solution_version_arn"],
            "min_provisioned_tps": campaign.get("min_provisioned_tps"),
            "campaign_config": config,
            "status": ACTIVE,
            "creation_date_time": now,
            "last_updated_date_time": now,
        }
        ctx.store.update(
            campaign["campaign_arn"],
            {
                "resolved_solution_version_arn": version["solution_version_arn"],
                "last_updated_date_time": now,
                "latest_campaign_update": update,
            },
        )
        moved.append(campaign["campaign_arn"])
    return moved
