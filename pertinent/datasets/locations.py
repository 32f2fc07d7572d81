"""Data locations as Personalize names them: a file or a folder, on local disk or in an S3-compatible store.

``/data/ratings.csv``, ``file:///data/ratings.csv``, ``s3://bucket/ratings.csv`` and folder prefixes ending
in ``/`` (every ``.csv`` below it) are accepted for reading; the same forms name export destinations.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlparse

from pertinent.errors import ImportFailure, InvalidInputException

Opener = Callable[[], BinaryIO]


def check_location(location: str) -> None:
    """Reject a location we can never read, at request time (InvalidInputException)."""
    scheme = urlparse(location).scheme
    if scheme in ("http", "https"):
        raise InvalidInputException(
            f"dataLocation {location!r}: http(s) locations are not supported; use s3://, file:// or a local path."
        )
    if scheme not in ("", "file", "s3"):
        raise InvalidInputException(f"dataLocation {location!r}: unknown scheme {scheme!r}.")
    if scheme == "s3" and not urlparse(location).netloc:
        raise InvalidInputException(f"dataLocation {location!r} names no bucket.")


def _local_path(location: str) -> Path:
    parsed = urlparse(location)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(location)


def s3_client(endpoint_url: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url or None)


def open_sources(location: str, s3_endpoint_url: str = "", suffix: str = ".csv") -> list[tuple[str, Opener]]:
    """The files at ``location`` as (display name, opener); ImportFailure when there are none.

    A folder (or S3 prefix) contributes every file whose name ends in ``suffix`` (``""``: every file
    except hidden ones and batch outputs, ``*.out``)."""
    if urlparse(location).scheme == "s3":
        return _s3_sources(location, s3_endpoint_url, suffix)
    path = _local_path(location)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and _wanted(p.name, suffix))
        if not files:
            raise ImportFailure(f"The folder {location} contains no {suffix or 'input'} files.")
    elif path.is_file():
        files = [path]
    else:
        raise ImportFailure(f"No file or folder at {location}.")
    return [(p.name, _file_opener(p)) for p in files]


def _wanted(name: str, suffix: str) -> bool:
    if suffix:
        return name.endswith(suffix)
    return not name.startswith(".") and not name.endswith(".out")


def _file_opener(path: Path) -> Opener:
    def open_file() -> BinaryIO:
        return path.open("rb")

    return open_file


def _s3_sources(location: str, endpoint_url: str, suffix: str) -> list[tuple[str, Opener]]:
    from botocore.exceptions import BotoCoreError, ClientError

    parsed = urlparse(location)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    client = s3_client(endpoint_url)

    def opener(k: str) -> Opener:
        def open_object() -> BinaryIO:
            return client.get_object(Bucket=bucket, Key=k)["Body"]  # type: ignore[no-any-return]

        return open_object

    try:
        if key and not key.endswith("/"):
            client.head_object(Bucket=bucket, Key=key)
            return [(key.rsplit("/", 1)[-1], opener(key))]
        keys: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
            keys.extend(
                o["Key"] for o in page.get("Contents", []) if _wanted(o["Key"].rsplit("/", 1)[-1], suffix)
            )
    except (ClientError, BotoCoreError) as exc:
        raise ImportFailure(f"Cannot read {location}: {exc}") from None
    if not keys:
        raise ImportFailure(f"No {suffix or 'input'} objects under {location}.")
    return [(k.rsplit("/", 1)[-1], opener(k)) for k in sorted(keys)]


def write_output(location: str, name: str, data: bytes, s3_endpoint_url: str = "") -> str:
    """Write ``data`` as ``name`` inside the destination folder ``location``; returns where it went."""
    parsed = urlparse(location)
    if parsed.scheme == "s3":
        key = parsed.path.lstrip("/")
        key = f"{key.rstrip('/')}/{name}" if key else name
        s3_client(s3_endpoint_url).put_object(Bucket=parsed.netloc, Key=key, Body=data)
        return f"s3://{parsed.netloc}/{key}"
    folder = _local_path(location)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return str(target)
