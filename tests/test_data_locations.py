"""Local import/export paths under --credentials: only inside --allow-path roots, realpath-checked, bounded,
never overwriting, never quoting file content (docs/security.md)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from pertinent.config import load_settings
from pertinent.credentials import create_key
from tests.conftest import INTERACTIONS_SCHEMA, wait_for_status, write_interactions_csv
from tests.conftest import start_server as start

PASSWD_LINE = "root:x:0:0"
ROLE = "arn:aws:iam::111111111111:role/personalize"


@dataclass
class Env:
    client: Any
    dataset: str
    allowed: Path
    outside: Path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("locations")
    allowed, outside = tmp / "allowed", tmp / "outside"
    allowed.mkdir()
    outside.mkdir()
    key = create_key(tmp / "keys.csv", "111111111111")
    settings = load_settings(
        data_dir=tmp / "data",
        worker_poll_seconds=0.05,
        credentials=str(tmp / "keys.csv"),
        allowed_paths=str(allowed),
        max_import_files=3,
        max_import_depth=2,
    )
    live, stop = start(settings)
    client = boto3.client(
        "personalize",
        endpoint_url=live.url,
        region_name="us-east-1",
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        config=Config(retries={"max_attempts": 1}),
    )
    group = client.create_dataset_group(name="g")["datasetGroupArn"]
    wait_for_status(lambda: client.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    schema = client.create_schema(name="s", schema=INTERACTIONS_SCHEMA)["schemaArn"]
    dataset = client.create_dataset(
        name="d", schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
    )["datasetArn"]
    wait_for_status(lambda: client.describe_dataset(datasetArn=dataset)["dataset"])
    yield Env(client, dataset, allowed, outside)
    stop()


_jobs = iter(range(10_000))


def _import(env: Env, location: str) -> dict[str, Any]:
    arn = env.client.create_dataset_import_job(
        jobName=f"import-{next(_jobs)}",
        datasetArn=env.dataset,
        dataSource={"dataLocation": location},
        roleArn=ROLE,
    )["datasetImportJobArn"]
    return wait_for_status(
        lambda: env.client.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]
    )


def _export(env: Env, location: str, name: str | None = None) -> dict[str, Any]:
    arn = env.client.create_dataset_export_job(
        jobName=name or f"export-{next(_jobs)}",
        datasetArn=env.dataset,
        roleArn=ROLE,
        ingestionMode="BULK",
        jobOutput={"s3DataDestination": {"path": location}},
    )["datasetExportJobArn"]
    return wait_for_status(
        lambda: env.client.describe_dataset_export_job(datasetExportJobArn=arn)["datasetExportJob"]
    )


def _refused(call: Any) -> str:
    with pytest.raises(ClientError) as exc:
        call()
    assert exc.value.response["Error"]["Code"] == "InvalidInputException"
    message = str(exc.value.response["Error"]["Message"])
    assert PASSWD_LINE not in message and "root:" not in message
    return message


def test_an_import_inside_the_allowed_root_works(env: Env) -> None:
    write_interactions_csv(env.allowed / "ratings.csv", users=10, per_user=5)
    assert _import(env, str(env.allowed / "ratings.csv"))["status"] == "ACTIVE"
    assert _import(env, f"file://{env.allowed}/ratings.csv")["status"] == "ACTIVE"


def test_paths_outside_the_roots_are_refused_for_import_and_export(env: Env) -> None:
    link = env.allowed / "passwd-link.csv"
    link.symlink_to("/etc/passwd")
    (env.allowed / "dir-link").symlink_to(env.outside, target_is_directory=True)
    write_interactions_csv(env.outside / "secret.csv", users=2, per_user=2)
    for location in (
        "/etc/passwd",
        "file:///etc/passwd",
        str(link),
        f"{env.allowed}/../outside/secret.csv",
        f"{env.allowed}/dir-link/secret.csv",
        "relative/path.csv",
    ):
        message = _refused(lambda location=location: _import(env, location))
        assert "allow-path" in message or "not absolute" in message
        assert PASSWD_LINE not in message and "u1," not in message  # the path only, never a line of the file
    for location in (
        "/etc/cron.d/",
        str(env.outside),
        f"{env.allowed}/../outside/",
        f"{env.allowed}/dir-link/",
    ):
        message = _refused(lambda location=location: _export(env, location))
        assert "allow-path" in message
    assert os.listdir(env.outside) == ["secret.csv"]


def test_a_symlink_swapped_in_after_the_check_is_refused_when_the_job_runs(env: Env) -> None:
    folder = env.allowed / "swap"
    folder.mkdir()
    write_interactions_csv(folder / "a.csv", users=2, per_user=2)
    (folder / "b.csv").symlink_to("/etc/passwd")  # a folder import checks every file's real path
    record = _import(env, f"{folder}/")
    assert record["status"] == "CREATE FAILED"
    assert "links outside the allowed folders" in record["failureReason"]
    assert PASSWD_LINE not in record["failureReason"]


def test_failure_reasons_quote_at_most_the_offending_value_truncated(env: Env) -> None:
    secret = "TOPSECRET" * 30
    (env.allowed / "secret-header.csv").write_text(f"{secret},ITEM_ID\nx,y\n")
    record = _import(env, str(env.allowed / "secret-header.csv"))
    assert record["status"] == "CREATE FAILED"
    reason = record["failureReason"]
    assert "TOPSECRET" in reason and secret not in reason and len(reason) < 400


def test_folder_imports_are_bounded_and_special_files_are_not_read(env: Env) -> None:
    many = env.allowed / "many"
    many.mkdir()
    for n in range(5):
        write_interactions_csv(many / f"part-{n}.csv", users=2, per_user=2)
    record = _import(env, f"{many}/")
    assert record["status"] == "CREATE FAILED" and "more than 3" in record["failureReason"]
    deep = env.allowed / "a" / "b" / "c" / "d"
    deep.mkdir(parents=True)
    write_interactions_csv(deep / "deep.csv", users=2, per_user=2)
    record = _import(env, f"{env.allowed / 'a'}/")
    assert record["status"] == "CREATE FAILED" and "deeper than 2 levels" in record["failureReason"]
    # a huge tree of other files and folders is refused without walking it all (max_import_files 3: 30 entries)
    wide = env.allowed / "wide"
    for n in range(40):
        (wide / f"sub-{n}").mkdir(parents=True)
        (wide / f"sub-{n}" / "notes.txt").write_text("not an input")
    record = _import(env, f"{wide}/")
    assert record["status"] == "CREATE FAILED" and "more than 30 files and folders" in record["failureReason"]
    fifo = env.allowed / "pipe.csv"
    os.mkfifo(fifo)
    record = _import(env, str(fifo))  # a FIFO would block a reader forever
    assert record["status"] == "CREATE FAILED" and "not a regular file" in record["failureReason"]


def test_exports_never_overwrite_a_file(env: Env) -> None:
    write_interactions_csv(env.allowed / "ratings.csv", users=10, per_user=5)
    assert _import(env, str(env.allowed / "ratings.csv"))["status"] == "ACTIVE"
    out = env.allowed / "out"
    record = _export(env, f"{out}/", name="first")
    assert record["status"] == "ACTIVE", record.get("failureReason")
    assert "USER_ID" in (out / "first.csv").read_text().splitlines()[0]
    (out / "victim.csv").write_text("keep me")
    record = _export(env, f"{out}/", name="victim")
    assert record["status"] == "CREATE FAILED" and "never overwrites" in record["failureReason"]
    assert (out / "victim.csv").read_text() == "keep me"
    (out / "linked.csv").symlink_to(env.outside / "target.csv")
    record = _export(env, f"{out}/", name="linked")
    assert record["status"] == "CREATE FAILED"
    assert not (env.outside / "target.csv").exists()
    assert sorted(p.name for p in out.iterdir()) == ["first.csv", "linked.csv", "victim.csv"]  # no temp files
