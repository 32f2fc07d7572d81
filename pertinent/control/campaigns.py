"""CreateCampaign, DescribeCampaign, ListCampaigns, UpdateCampaign, DeleteCampaign."""

from __future__ import annotations

from typing import Any

from pertinent import arns
from pertinent.control.common import (
    Operation,
    Record,
    insert_new,
    new_record,
    paginate,
    require,
    tags_to_dict,
)
from pertinent.control.context import Context
from pertinent.errors import InvalidInputException, ResourceInUseException, ResourceNotFoundException
from pertinent.resources.status import ACTIVE, CREATE_PENDING, CREATE_STOPPING, IN_FLIGHT

KIND = "campaign"


def resolve_solution_version(ctx: Context, solution_version_arn: str, pending_ok: bool = False) -> Record:
    """The ACTIVE version an ARN names; ``…/solution/{name}/$LATEST`` is the newest ACTIVE one.

    With ``pending_ok`` a version still training is accepted too (a campaign created on it waits for it,
    and ``$LATEST`` then names the newest version in flight when none is ACTIVE yet).
    """
    usable = {ACTIVE} | (set(IN_FLIGHT) - {CREATE_STOPPING} if pending_ok else set())
    if arns.is_latest_alias(solution_version_arn):
        solution_arn = solution_version_arn.rsplit("/", 1)[0]
        require(ctx, "solution", solution_arn)
        versions = ctx.store.list("solution-version", solution_arn)
        for wanted in (ACTIVE, *sorted(usable - {ACTIVE})):
            for version in versions:
                if version["status"] == wanted:
                    return version
        raise ResourceNotFoundException(f"Solution {solution_arn} has no ACTIVE solution version.")
    version = require(ctx, "solution-version", solution_version_arn)
    if version["status"] not in usable:
        raise ResourceInUseException(
            f"Solution version {solution_version_arn} is {version['status']}; a campaign needs an ACTIVE one."
        )
    return version


def _check_config(solution_version_arn: str, campaign_config: Record | None) -> None:
    from pertinent.serving.batch import check_exploration_config

    check_exploration_config((campaign_config or {}).get("item_exploration_config"))
    if (campaign_config or {}).get("sync_with_latest_solution_version") and not arns.is_latest_alias(
        solution_version_arn
    ):
        raise InvalidInputException(
            "syncWithLatestSolutionVersion requires solutionVersionArn in the form SolutionArn/$LATEST."
        )


def create_campaign(
    ctx: Context,
    name: str,
    solution_version_arn: str,
    min_provisioned_tps: int | None = None,
    campaign_config: Record | None = None,
    tags: list[Record] | None = None,
) -> Record:
    _check_config(solution_version_arn, campaign_config)
    version = resolve_solution_version(ctx, solution_version_arn, pending_ok=True)
    ready = version["status"] == ACTIVE
    arn = ctx.arn(KIND, name)
    record = new_record(
        ctx,
        status=ACTIVE if ready else CREATE_PENDING,
        name=name,
        campaign_arn=arn,
        solution_version_arn=solution_version_arn,
        resolved_solution_version_arn=version["solution_version_arn"],
        min_provisioned_tps=min_provisioned_tps or 1,
        campaign_config=campaign_config or {},
        dataset_group_arn=version["dataset_group_arn"],
        solution_arn=version["solution_arn"],
        tags=tags_to_dict(tags),
    )
    # on an ACTIVE version there is nothing to wait for; on one still training the worker activates the
    # campaign once the version is ACTIVE (or fails it with the version's reason)
    job = None if ready else "campaign"
    insert_new(ctx, KIND, arn, record, parent_arn=version["solution_arn"], job=job)
    return {"campaign_arn": arn}


def describe_campaign(ctx: Context, campaign_arn: str) -> Record:
    return {"campaign": require(ctx, KIND, campaign_arn)}


def list_campaigns(
    ctx: Context,
    solution_arn: str | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> Record:
    page, token = paginate(ctx, KIND, solution_arn, next_token, max_results)
    return {"campaigns": page, "next_token": token}


def update_campaign(
    ctx: Context,
    campaign_arn: str,
    solution_version_arn: str | None = None,
    min_provisioned_tps: int | None = None,
    campaign_config: Record | None = None,
) -> Record:
    campaign = require(ctx, KIND, campaign_arn)
    if campaign["status"] != ACTIVE:
        raise ResourceInUseException(
            f"Campaign {campaign_arn} is {campaign['status']}; wait until it is ACTIVE."
        )
    target = solution_version_arn or campaign["solution_version_arn"]
    config = campaign_config if campaign_config is not None else campaign.get("campaign_config", {})
    _check_config(target, config)
    version = resolve_solution_version(ctx, target)
    if version["solution_arn"] != campaign["solution_arn"]:
        raise InvalidInputException("A campaign can only be updated to a version of the same solution.")
    now = ctx.now()
    update = {
        "solution_version_arn": target,
        "min_provisioned_tps": min_provisioned_tps or campaign["min_provisioned_tps"],
        "campaign_config": config,
        "status": ACTIVE,
        "creation_date_time": now,
        "last_updated_date_time": now,
    }
    ctx.store.update(
        campaign_arn,
        {
            "solution_version_arn": target,
            "resolved_solution_version_arn": version["solution_version_arn"],
            "min_provisioned_tps": update["min_provisioned_tps"],
            "campaign_config": config,
            "last_updated_date_time": now,
            "latest_campaign_update": update,
        },
    )
    return {"campaign_arn": campaign_arn}


def delete_campaign(ctx: Context, campaign_arn: str) -> dict[str, Any]:
    require(ctx, KIND, campaign_arn)
    ctx.store.delete(campaign_arn)
    return {}


OPERATIONS: dict[str, Operation] = {
    "CreateCampaign": create_campaign,
    "DescribeCampaign": describe_campaign,
    "ListCampaigns": list_campaigns,
    "UpdateCampaign": update_campaign,
    "DeleteCampaign": delete_campaign,
}
