"""Solutions and solution versions: the training resources and their job lifecycle."""

from __future__ import annotations

import secrets
from typing import Any

from pertinent import arns
from pertinent.control.auto_training import check_solution_config
from pertinent.control.common import (
    Operation,
    Record,
    insert_new,
    new_record,
    paginate,
    require,
    require_active,
    require_usable,
    set_status,
    tags_to_dict,
)
from pertinent.control.context import Context
from pertinent.errors import (
    InvalidInputException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from pertinent.recipes.catalog import ALL_RECIPES
from pertinent.resources.status import (
    ACTIVE,
    CREATE_IN_PROGRESS,
    CREATE_PENDING,
    CREATE_STOPPED,
    CREATE_STOPPING,
    IN_FLIGHT,
)

SOLUTION = "solution"
VERSION = "solution-version"

#: recipes whose versions may be trained with trainingMode UPDATE
UPDATABLE_RECIPES = {"aws-user-personalization", "aws-user-personalization-v2"}


def create_solution(
    ctx: Context,
    name: str,
    dataset_group_arn: str,
    recipe_arn: str | None = None,
    perform_hpo: bool | None = None,
    perform_auto_ml: bool | None = None,
    perform_auto_training: bool | None = None,
    perform_incremental_update: bool | None = None,
    event_type: str | None = None,
    solution_config: Record | None = None,
    tags: list[Record] | None = None,
) -> Record:
    require_usable(ctx, "dataset-group", dataset_group_arn)
    if perform_auto_ml:
        if recipe_arn:
            raise InvalidInputException("Specify either performAutoML or recipeArn, not both.")
        recipe_arn = "arn:aws:personalize:::recipe/aws-user-personalization"
    if not recipe_arn:
        raise InvalidInputException("recipeArn is required when performAutoML is false.")
    recipe = ALL_RECIPES.get(recipe_arn)
    if recipe is None:
        raise ResourceNotFoundException(f"Could not find recipe with ARN {recipe_arn}.")
    if recipe.domain is not None:
        raise InvalidInputException(
            f"{recipe_arn} is a domain recipe; use it with CreateRecommender, not CreateSolution."
        )
    check_solution_config(solution_config)
    if recipe.name in NOT_TRAINABLE:
        raise InvalidInputException(NOT_TRAINABLE[recipe.name])
    _check_incremental(perform_incremental_update, recipe.name)
    arn = ctx.arn(SOLUTION, name)
    record = new_record(
        ctx,
        status=ACTIVE,
        name=name,
        solution_arn=arn,
        dataset_group_arn=dataset_group_arn,
        recipe_arn=recipe_arn,
        perform_hpo=bool(perform_hpo or perform_auto_ml),
        perform_auto_ml=bool(perform_auto_ml),
        perform_auto_training=perform_auto_training if perform_auto_training is not None else True,
        perform_incremental_update=bool(perform_incremental_update),
        event_type=event_type,
        solution_config=solution_config or {},
        tags=tags_to_dict(tags),
    )
    insert_new(ctx, SOLUTION, arn, record, parent_arn=dataset_group_arn)
    return {"solution_arn": arn}


def _latest_version(ctx: Context, solution_arn: str, status: str | None = None) -> Record | None:
    for version in ctx.store.list(VERSION, solution_arn):
        if status is None or version["status"] == status:
            return version
    return None


def describe_solution(ctx: Context, solution_arn: str) -> Record:
    solution = require(ctx, SOLUTION, solution_arn)
    latest = _latest_version(ctx, solution_arn)
    if latest is not None:
        solution["latest_solution_version"] = latest
    return {"solution": solution}


def list_solutions(
    ctx: Context,
    dataset_group_arn: str | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> Record:
    page, token = paginate(ctx, SOLUTION, dataset_group_arn, next_token, max_results)
    return {"solutions": page, "next_token": token}


#: recipes of Personalize's catalog that pertinent lists but cannot train, with the reason
NOT_TRAINABLE = {
    "aws-semantic-similarity": (
        "aws-semantic-similarity ranks items by text embeddings of their metadata from a language model, "
        "which pertinent does not ship; it cannot train this recipe. Use aws-similar-items (co-occurrence "
        "blended with metadata similarity) instead."
    )
}


def _check_incremental(perform_incremental_update: bool | None, recipe_name: str) -> None:
    """performIncrementalUpdate: Personalize supports it only for aws-semantic-similarity, which pertinent
    cannot train, so True is refused for every recipe rather than accepted without effect."""
    if perform_incremental_update:
        raise InvalidInputException(
            "performIncrementalUpdate is only supported for the aws-semantic-similarity recipe (Amazon "
            f"Personalize), which pertinent cannot train; {recipe_name} takes trainingMode UPDATE or "
            "automatic training instead."
        )


def update_solution(
    ctx: Context,
    solution_arn: str,
    perform_auto_training: bool | None = None,
    perform_incremental_update: bool | None = None,
    solution_update_config: Record | None = None,
) -> Record:
    solution = require_active(ctx, SOLUTION, solution_arn)
    _check_incremental(perform_incremental_update, arns.parse(solution["recipe_arn"]).path)
    now = ctx.now()
    changes: Record = {"last_updated_date_time": now}
    if perform_auto_training is not None:
        changes["perform_auto_training"] = perform_auto_training
    if perform_incremental_update is not None:
        changes["perform_incremental_update"] = perform_incremental_update
    if solution_update_config:
        check_solution_config(solution_update_config)
        config = dict(solution.get("solution_config") or {})
        config.update({k: v for k, v in solution_update_config.items() if v is not None})
        changes["solution_config"] = config
    changes["latest_solution_update"] = {
        "solution_update_config": solution_update_config or {},
        "status": ACTIVE,
        "perform_auto_training": changes.get("perform_auto_training", solution.get("perform_auto_training")),
        "perform_incremental_update": changes.get(
            "perform_incremental_update", solution.get("perform_incremental_update")
        ),
        "creation_date_time": now,
        "last_updated_date_time": now,
    }
    ctx.store.update(solution_arn, changes)
    return {"solution_arn": solution_arn}


def delete_solution(ctx: Context, solution_arn: str) -> dict[str, Any]:
    require(ctx, SOLUTION, solution_arn)
    campaigns = ctx.store.list("campaign", solution_arn)
    if campaigns:
        raise ResourceInUseException(
            f"Cannot delete solution {solution_arn}: delete campaign {campaigns[0]['campaign_arn']} first."
        )
    versions = ctx.store.list(VERSION, solution_arn)
    for version in versions:
        if version["status"] in IN_FLIGHT:
            raise ResourceInUseException(
                f"Cannot delete solution {solution_arn}: version {version['solution_version_arn']} is "
                f"{version['status']}."
            )
    with ctx.store.write() as conn:
        for version in versions:
            ctx.store.delete(version["solution_version_arn"], conn=conn)
        ctx.store.delete(solution_arn, conn=conn)
    for version in versions:
        ctx.storage.delete_tree(ctx.artifact_key(version["solution_version_arn"]))
    return {}


# -- solution versions --------------------------------------------------------------------------------
def create_solution_version(
    ctx: Context,
    solution_arn: str,
    name: str | None = None,
    training_mode: str | None = None,
    tags: list[Record] | None = None,
    *,
    training_type: str = "MANUAL",
) -> Record:
    """``training_type`` AUTOMATIC is for the auto-training schedule (not a member of the request)."""
    solution = require_usable(ctx, SOLUTION, solution_arn)
    mode = training_mode or "FULL"
    recipe_name = arns.parse(solution["recipe_arn"]).path
    if mode == "UPDATE":
        if recipe_name not in UPDATABLE_RECIPES:
            raise InvalidInputException(
                f"trainingMode UPDATE is only supported for User-Personalization, not {recipe_name}."
            )
        if _latest_version(ctx, solution_arn, ACTIVE) is None:
            raise InvalidInputException("trainingMode UPDATE needs an ACTIVE solution version to update.")
    in_flight = [v for v in ctx.store.list(VERSION, solution_arn) if v["status"] in IN_FLIGHT]
    if in_flight:
        raise ResourceInUseException(
            f"Solution version {in_flight[0]['solution_version_arn']} of {solution_arn} is still "
            f"{in_flight[0]['status']}."
        )
    version_id = secrets.token_hex(4)
    arn = ctx.arn(SOLUTION, solution["name"], version_id)
    copied = {
        k: solution.get(k)
        for k in (
            "solution_arn",
            "perform_hpo",
            "perform_auto_ml",
            "perform_incremental_update",
            "recipe_arn",
            "event_type",
            "dataset_group_arn",
            "solution_config",
        )
    }
    record = new_record(
        ctx,
        name=name,
        solution_version_arn=arn,
        training_mode=mode,
        training_type=training_type,
        training_hours=0.0,  # DescribeSolutionVersion has it from the start (clients print it while polling)
        tags=tags_to_dict(tags),
    )
    record.update({k: v for k, v in copied.items() if v is not None})
    insert_new(ctx, VERSION, arn, record, parent_arn=solution_arn, job="train")
    return {"solution_version_arn": arn}


def describe_solution_version(ctx: Context, solution_version_arn: str) -> Record:
    return {"solution_version": require(ctx, VERSION, solution_version_arn)}


def list_solution_versions(
    ctx: Context,
    solution_arn: str | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> Record:
    if solution_arn is not None:
        require(ctx, SOLUTION, solution_arn)
    page, token = paginate(ctx, VERSION, solution_arn, next_token, max_results)
    return {"solution_versions": page, "next_token": token}


def stop_solution_version_creation(ctx: Context, solution_version_arn: str) -> dict[str, Any]:
    version = require(ctx, VERSION, solution_version_arn)
    status = version["status"]
    if status == CREATE_PENDING:
        set_status(ctx, solution_version_arn, CREATE_STOPPED)
    elif status == CREATE_IN_PROGRESS:
        set_status(ctx, solution_version_arn, CREATE_STOPPING)  # the worker stops the training process
    else:
        raise ResourceInUseException(
            f"Solution version {solution_version_arn} is {status}; only CREATE PENDING or CREATE IN_PROGRESS "
            "versions can be stopped."
        )
    return {}


def get_solution_metrics(ctx: Context, solution_version_arn: str) -> Record:
    version = require(ctx, VERSION, solution_version_arn)
    if version["status"] != ACTIVE:
        raise ResourceInUseException(
            f"Solution version {solution_version_arn} is {version['status']}; metrics exist once it is ACTIVE."
        )
    return {"solution_version_arn": solution_version_arn, "metrics": version.get("metrics", {})}


OPERATIONS: dict[str, Operation] = {
    "CreateSolution": create_solution,
    "DescribeSolution": describe_solution,
    "ListSolutions": list_solutions,
    "UpdateSolution": update_solution,
    "DeleteSolution": delete_solution,
    "CreateSolutionVersion": create_solution_version,
    "DescribeSolutionVersion": describe_solution_version,
    "ListSolutionVersions": list_solution_versions,
    "StopSolutionVersionCreation": stop_solution_version_creation,
    "GetSolutionMetrics": get_solution_metrics,
}
