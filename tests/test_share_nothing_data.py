"""Share-nothing data handling: a data deletion run by one replica's worker is seen by another replica
with its own data folder (the erasure is counted in the database, the rewritten model data is stored
again), and with object storage a local path — which would be read or written on whichever worker runs
the job — is refused when the job is created."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import INTERACTIONS_SCHEMA, wait_for_status, write_interactions_csv
from tests.s3_replicas import BUCKET, replica_settings, s3_endpoint, start_replica

__all__ = ["s3_endpoint"]  # the fixture

INPUT = "pertinent-input"
ROLE = "arn:aws:iam::000000000000:role/PersonalizeS3"


def _refused(call: Any, *words: str) -> None:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidInputException", error
    for word in words:
        assert word in error["Message"], error["Message"]


def test_an_erasure_on_one_replica_reaches_another_and_local_paths_are_refused(
    s3_endpoint: str, tmp_path: Path
) -> None:
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket=INPUT)
    write_interactions_csv(tmp_path / "interactions.csv", users=60, items=200)
    s3.upload_file(str(tmp_path / "interactions.csv"), INPUT, "interactions.csv")
    s3.put_object(Bucket=INPUT, Key="erase.csv", Body=b"USER_ID\nu7\n")
    a, stop_a = start_replica(replica_settings(tmp_path, "a", s3_endpoint), "all")
    b, stop_b = start_replica(replica_settings(tmp_path, "b", s3_endpoint), "api")
    try:
        client = a.client()
        group = client.create_dataset_group(name="shop")["datasetGroupArn"]
        wait_for_status(lambda: client.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
        schema = client.create_schema(name="i", schema=INTERACTIONS_SCHEMA)["schemaArn"]
        dataset = client.create_dataset(
            name="i", schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
        )["datasetArn"]
        wait_for_status(lambda: client.describe_dataset(datasetArn=dataset)["dataset"])

        # -- local paths and the server's own storage are refused, with the reason -----------------------
        local = tmp_path / "interactions.csv"
        _refused(
            lambda: client.create_dataset_import_job(
                jobName="local", datasetArn=dataset, dataSource={"dataLocation": str(local)}, roleArn=ROLE
            ),
            "object storage",
            "s3://",
        )
        _refused(
            lambda: client.create_dataset_export_job(
                jobName="local-out",
                datasetArn=dataset,
                roleArn=ROLE,
                jobOutput={"s3DataDestination": {"path": str(tmp_path / "out") + "/"}},
            ),
            "object storage",
        )
        _refused(
            lambda: client.create_dataset_export_job(
                jobName="into-storage",
                datasetArn=dataset,
                roleArn=ROLE,
                jobOutput={"s3DataDestination": {"path": f"s3://{BUCKET}/p/artifacts/"}},
            ),
            "own storage",
        )
        _refused(
            lambda: client.create_dataset_import_job(
                jobName="from-storage",
                datasetArn=dataset,
                dataSource={"dataLocation": f"s3://{BUCKET}/p/datasets/"},
                roleArn=ROLE,
            ),
            "own storage",
        )
        _refused(
            lambda: client.create_data_deletion_job(
                jobName="local-erase",
                datasetGroupArn=group,
                dataSource={"dataLocation": str(tmp_path / "erase.csv")},
                roleArn=ROLE,
            ),
            "object storage",
        )

        job = client.create_dataset_import_job(
            jobName="in", datasetArn=dataset, dataSource={"dataLocation": f"s3://{INPUT}/interactions.csv"}
        )["datasetImportJobArn"]
        record = wait_for_status(
            lambda: client.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"],
            timeout=300,
        )
        assert record["status"] == "ACTIVE", record
        solution = client.create_solution(
            name="s", datasetGroupArn=group, recipeArn="arn:aws:personalize:::recipe/aws-user-personalization"
        )["solutionArn"]
        wait_for_status(lambda: client.describe_solution(solutionArn=solution)["solution"])
        version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
        record = wait_for_status(
            lambda: client.describe_solution_version(solutionVersionArn=version)["solutionVersion"],
            timeout=600,
        )
        assert record["status"] == "ACTIVE", record
        campaign = client.create_campaign(name="c", solutionVersionArn=version)["campaignArn"]
        wait_for_status(lambda: client.describe_campaign(campaignArn=campaign)["campaign"], timeout=300)

        runtime_b = b.client("personalize-runtime")

        def items(user: str) -> list[str]:
            answer = runtime_b.get_recommendations(campaignArn=campaign, userId=user, numResults=10)
            return [entry["itemId"] for entry in answer["itemList"]]

        cold = items("never-seen")
        before = items("u7")
        assert before != cold  # B serves u7 from its training history in the artifact
        assert {int(i[1:]) % 2 for i in before} == {1}  # u7's taste: odd items

        # -- A's worker erases u7: B, with its own cache, answers as for a user it never saw ------------------
        erase = client.create_data_deletion_job(
            jobName="erase",
            datasetGroupArn=group,
            dataSource={"dataLocation": f"s3://{INPUT}/erase.csv"},
            roleArn=ROLE,
        )["dataDeletionJobArn"]
        record = wait_for_status(
            lambda: client.describe_data_deletion_job(dataDeletionJobArn=erase)["dataDeletionJob"],
            done=("COMPLETED", "FAILED"),
            timeout=300,
        )
        assert record["status"] == "COMPLETED" and record["numDeleted"] == 1, record
        assert items("u7") == cold
        assert items("u9") != cold  # the others keep their histories
        markers = list((tmp_path / "data-b" / "cache" / "artifacts").rglob(".pertinent-complete"))
        assert [m.read_text() for m in markers] == ["erasure-1"]  # B fetched the rewritten model data
    finally:
        stop_b()
        stop_a()
