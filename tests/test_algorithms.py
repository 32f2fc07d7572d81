"""DescribeAlgorithm and DescribeFeatureTransformation through boto3: every recipe's algorithm answers,
with the hyperparameters, defaults and ranges training accepts; unknown ARNs are not found."""

from __future__ import annotations

from typing import Any

import pytest

from pertinent.recipes.registry import RECIPE_CLASSES


def test_every_recipe_algorithm_and_transformation_is_described(personalize: Any) -> None:
    recipes = personalize.list_recipes()["recipes"]
    for summary in recipes:
        recipe = personalize.describe_recipe(recipeArn=summary["recipeArn"])["recipe"]
        if recipe.get("domain") or summary.get("domain"):
            continue
        algorithm = personalize.describe_algorithm(algorithmArn=recipe["algorithmArn"])["algorithm"]
        assert algorithm["algorithmArn"] == recipe["algorithmArn"]
        assert algorithm["algorithmImage"]["dockerURI"]
        cls = RECIPE_CLASSES.get(recipe["name"])
        declared = {hp.name for hp in cls.hyperparameters} if cls else set()
        assert set(algorithm.get("defaultHyperParameters", {})) == declared, recipe["name"]
        if recipe.get("featureTransformationArn"):
            transformation = personalize.describe_feature_transformation(
                featureTransformationArn=recipe["featureTransformationArn"]
            )["featureTransformation"]
            assert transformation["status"] == "ACTIVE"
            assert transformation["featureTransformationArn"] == recipe["featureTransformationArn"]


def test_user_personalization_ranges_match_its_declaration(personalize: Any) -> None:
    algorithm = personalize.describe_algorithm(
        algorithmArn="arn:aws:personalize:::algorithm/aws-user-personalization"
    )["algorithm"]
    cls = RECIPE_CLASSES["aws-user-personalization"]
    ranges = algorithm["defaultHyperParameterRanges"]
    for hp in cls.hyperparameters:
        assert algorithm["defaultHyperParameters"][hp.name] == hp.to_wire(hp.default)
        key = {"int": "integerHyperParameterRanges", "float": "continuousHyperParameterRanges"}.get(
            hp.kind, "categoricalHyperParameterRanges"
        )
        (entry,) = [r for r in ranges[key] if r["name"] == hp.name]
        assert entry["isTunable"] == hp.tunable
        if hp.kind == "categorical":
            assert entry["values"] == list(hp.values)
        elif hp.low is not None:
            assert entry["minValue"] == hp.low
    transformation = personalize.describe_feature_transformation(
        featureTransformationArn="arn:aws:personalize:::feature-transformation/JSON-percentile-filtering"
    )["featureTransformation"]
    assert set(transformation["defaultParameters"]) == {
        "min_user_history_length_percentile",
        "max_user_history_length_percentile",
    }


def test_unknown_arns_are_not_found(personalize: Any) -> None:
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_algorithm(algorithmArn="arn:aws:personalize:::algorithm/no-such")
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_feature_transformation(
            featureTransformationArn="arn:aws:personalize:::feature-transformation/no-such"
        )
