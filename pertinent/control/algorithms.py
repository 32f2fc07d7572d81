"""DescribeAlgorithm and DescribeFeatureTransformation: the AWS-owned objects behind our recipes.

An algorithm's hyperparameters, their defaults and ranges come from the recipe's own declaration
(:class:`pertinent.recipes.base.HyperParameter`), the same one that validates ``algorithmHyperParameters``
and drives HPO, so what DescribeAlgorithm says is what training accepts. A recipe pertinent cannot train
still has its algorithm described, without hyperparameters.
"""

from __future__ import annotations

from pertinent.control.common import Operation, Record
from pertinent.control.context import Context
from pertinent.control.recipes import CATALOG_TIME
from pertinent.errors import ResourceNotFoundException
from pertinent.recipes.catalog import ALL_RECIPES, RecipeInfo
from pertinent.recipes.registry import RECIPE_CLASSES

#: feature transformation → the hyperparameters of its recipes it takes defaults from
TRANSFORMATION_PARAMETERS = {
    "JSON-percentile-filtering": ("min_user_history_length_percentile", "max_user_history_length_percentile"),
}


def _algorithms() -> dict[str, RecipeInfo]:
    return {r.algorithm_arn: r for r in ALL_RECIPES.values() if r.domain is None}


def _transformations() -> dict[str, RecipeInfo]:
    found: dict[str, RecipeInfo] = {}
    for recipe in ALL_RECIPES.values():
        if recipe.feature_transformation_arn is not None:
            found.setdefault(recipe.feature_transformation_arn, recipe)
    return found


def describe_algorithm(ctx: Context, algorithm_arn: str) -> Record:
    recipe = _algorithms().get(algorithm_arn)
    if recipe is None:
        raise ResourceNotFoundException(f"Could not find algorithm with ARN {algorithm_arn}.")
    name = algorithm_arn.rsplit("/", 1)[-1]
    cls = RECIPE_CLASSES.get(recipe.name)
    ranges: Record = {
        "integer_hyper_parameter_ranges": [],
        "continuous_hyper_parameter_ranges": [],
        "categorical_hyper_parameter_ranges": [],
    }
    defaults: dict[str, str] = {}
    for hp in cls.hyperparameters if cls is not None else ():
        defaults[hp.name] = hp.to_wire(hp.default)
        if hp.kind == "categorical":
            ranges["categorical_hyper_parameter_ranges"].append(
                {"name": hp.name, "values": list(hp.values), "is_tunable": hp.tunable}
            )
            continue
        entry: Record = {"name": hp.name, "is_tunable": hp.tunable}
        if hp.low is not None:
            entry["min_value"] = int(hp.low) if hp.kind == "int" else float(hp.low)
        if hp.high is not None:
            entry["max_value"] = int(hp.high) if hp.kind == "int" else float(hp.high)
        key = "integer_hyper_parameter_ranges" if hp.kind == "int" else "continuous_hyper_parameter_ranges"
        ranges[key].append(entry)
    algorithm: Record = {
        "name": name,
        "algorithm_arn": algorithm_arn,
        "algorithm_image": {"name": name, "docker_uri": f"pertinent/recipes/{recipe.name}"},
        "default_hyper_parameters": defaults,
        "default_hyper_parameter_ranges": ranges,
        "default_resource_config": {},
        "training_input_mode": "File",
        "creation_date_time": CATALOG_TIME,
        "last_updated_date_time": CATALOG_TIME,
    }
    return {"algorithm": algorithm}


def describe_feature_transformation(ctx: Context, feature_transformation_arn: str) -> Record:
    recipe = _transformations().get(feature_transformation_arn)
    if recipe is None:
        raise ResourceNotFoundException(
            f"Could not find feature transformation with ARN {feature_transformation_arn}."
        )
    name = feature_transformation_arn.rsplit("/", 1)[-1]
    parameters: dict[str, str] = {}
    cls = RECIPE_CLASSES.get(recipe.name)
    for hp in cls.hyperparameters if cls is not None else ():
        if hp.name in TRANSFORMATION_PARAMETERS.get(name, ()):
            parameters[hp.name] = hp.to_wire(hp.default)
    return {
        "feature_transformation": {
            "name": name,
            "feature_transformation_arn": feature_transformation_arn,
            "default_parameters": parameters,
            "status": "ACTIVE",
            "creation_date_time": CATALOG_TIME,
            "last_updated_date_time": CATALOG_TIME,
        }
    }


OPERATIONS: dict[str, Operation] = {
    "DescribeAlgorithm": describe_algorithm,
    "DescribeFeatureTransformation": describe_feature_transformation,
}
