"""Share-nothing replicas in one test process: real servers, each with its own data folder, sharing only a
database file and an S3-compatible store (moto's server mode)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from pertinent.api.background import serve_in_background
from pertinent.config import Settings, load_settings
from tests.conftest import LiveServer, free_port

BUCKET = "pertinent-store"


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's S3 server with the storage bucket; AWS test credentials in the environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


def replica_settings(tmp_path: Path, name: str, s3_endpoint: str, **extra: Any) -> Settings:
    return load_settings(
        data_dir=tmp_path / f"data-{name}",
        db=f"sqlite:///{tmp_path / 'shared.db'}",
        storage=f"s3://{BUCKET}/p",
        s3_endpoint_url=s3_endpoint,
        worker_poll_seconds=0.05,
        **extra,
    )


def start_replica(settings: Settings, role: str) -> tuple[LiveServer, Callable[[], None]]:
    """A real server of ``role`` on a free loopback port (another one when that port was taken)."""
    for attempt in range(3):
        actual = dataclasses.replace(settings, host="127.0.0.1", port=free_port())
        try:
            background = serve_in_background(actual, role=role)
        except RuntimeError:
            if attempt == 2:
                raise
            continue
        return LiveServer(background.url, actual, background.app), background.stop
    raise AssertionError("unreachable")
