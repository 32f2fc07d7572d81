"""The blob storage port: datasets (Parquet), model artifacts and job outputs, by key.

Two adapters behind one interface, chosen by ``settings.storage``:

* :class:`LocalStorage` (embedded default): the data folder *is* the storage; ``path(key)`` is the file.
* :class:`S3Storage` (``s3://bucket/prefix``, scale-out): an S3-compatible object store holds everything and
  the data folder is only this process's cache. A file is downloaded once per version (keys of mutable data
  carry a version: ``bulk-<version>.parquet``), then read (memory-mapped) from the cache; a newer version
  evicts the older ones, and a deleted resource's files leave the cache too.

Keys are ``/``-separated relative paths such as ``datasets/{group}/{TYPE}/bulk.parquet`` or
``artifacts/{solution}/{id}`` (a folder, for the tree operations).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import uuid
from pathlib import Path, PurePosixPath
from typing import Any, Protocol
from urllib.parse import urlparse

log = logging.getLogger(__name__)

#: written last into a downloaded folder: its absence means the download did not finish
COMPLETE_MARKER = ".pertinent-complete"


def versioned(key: str, version: str) -> str:
    """``a/bulk.parquet`` at version ``v1`` → ``a/bulk-v1.parquet`` (no version: the key itself)."""
    if not version:
        return key
    pure = PurePosixPath(key)
    return str(pure.with_name(f"{pure.stem}-{version}{pure.suffix}"))


class Storage(Protocol):
    url: str

    def path(self, key: str, version: str = "") -> Path:
        """Where ``key`` at ``version`` is (or is to be written) on this machine."""

    def fetch(self, key: str, version: str = "") -> Path | None:
        """The local file of ``key`` at ``version``, downloaded first if needed; None when not stored."""

    def publish(self, key: str, version: str = "") -> None:
        """Store the file written at ``path(key, version)`` so every process can fetch it."""

    def prune(self, key: str, keep: set[str]) -> None:
        """Remove the stored versions of ``key`` other than ``keep``."""

    def fetch_tree(self, prefix: str) -> Path | None:
        """The local folder holding every file under ``prefix``; None when nothing is stored there."""

    def publish_tree(self, prefix: str, skip: tuple[str, ...] = ()) -> None:
        """Store every file written under ``path(prefix)`` (but top-level entries named in ``skip``)."""

    def delete_tree(self, prefix: str) -> None:
        """Remove everything under ``prefix``, stored and cached."""

    def check(self) -> None:
        """Raise unless the storage is reachable (readiness checks)."""


class LocalStorage:
    """The data folder as the storage (one machine, or a shared disk)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.url = str(self.root.resolve())

    def path(self, key: str, version: str = "") -> Path:
        return self.root / key  # files are replaced in place (atomic rename), so versions are not needed

    def fetch(self, key: str, version: str = "") -> Path | None:
        found = self.path(key)
        return found if found.exists() else None

    def publish(self, key: str, version: str = "") -> None:
        return None

    def prune(self, key: str, keep: set[str]) -> None:
        return None

    def fetch_tree(self, prefix: str) -> Path | None:
        return self.fetch(prefix)

    def publish_tree(self, prefix: str, skip: tuple[str, ...] = ()) -> None:
        return None

    def delete_tree(self, prefix: str) -> None:
        shutil.rmtree(self.root / prefix, ignore_errors=True)

    def check(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise OSError(f"the data folder {self.root} is not writable")


def _missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound")


class S3Storage:
    """An S3-compatible bucket (``s3://bucket/prefix``) with ``cache`` as this process's local copy."""

    def __init__(self, url: str, cache: Path, endpoint_url: str = "") -> None:
        import boto3

        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"storage must be s3://bucket[/prefix], not {url!r}")
        self.url = url
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.cache = Path(cache)
        session = boto3.session.Session()  # credentials: the standard AWS chain (env, files, roles)
        self.client: Any = session.client(
            "s3", endpoint_url=endpoint_url or None, region_name=session.region_name or "us-east-1"
        )
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _object(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    # -- single files -------------------------------------------------------------------------------
    def path(self, key: str, version: str = "") -> Path:
        return self.cache / versioned(key, version)

    def fetch(self, key: str, version: str = "") -> Path | None:
        local = self.path(key, version)
        if local.exists():
            return local
        with self._lock(str(local)):
            if local.exists():
                return local
            local.parent.mkdir(parents=True, exist_ok=True)
            partial = local.with_name(f".{local.name}.{uuid.uuid4().hex}.part")
            try:
                self.client.download_file(self.bucket, self._object(versioned(key, version)), str(partial))
            except Exception as exc:
                partial.unlink(missing_ok=True)
                if _missing(exc):
                    return None
                raise
            os.replace(partial, local)
        if version:
            self._evict_other_versions(key, version)
        return local

    def _evict_other_versions(self, key: str, version: str) -> None:
        pure = PurePosixPath(key)
        keep = self.path(key, version)
        for old in (self.cache / str(pure.parent)).glob(f"{pure.stem}-*{pure.suffix}"):
            if old != keep:
                old.unlink(missing_ok=True)  # readers holding it open (mmap) keep their copy until closed

    def publish(self, key: str, version: str = "") -> None:
        self.client.upload_file(
            str(self.path(key, version)), self.bucket, self._object(versioned(key, version))
        )

    def prune(self, key: str, keep: set[str]) -> None:
        pure = PurePosixPath(key)
        wanted = {self._object(versioned(key, v)) for v in keep}
        start = self._object(str(pure.parent / f"{pure.stem}-"))
        for name in self._list(start):
            if name.endswith(pure.suffix) and name not in wanted:
                self.client.delete_object(Bucket=self.bucket, Key=name)

    # -- folders ------------------------------------------------------------------------------------
    def _list(self, start: str) -> list[str]:
        names: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
            names += [item["Key"] for item in page.get("Contents", [])]
        return names

    def fetch_tree(self, prefix: str) -> Path | None:
        local = self.cache / prefix
        if (local / COMPLETE_MARKER).exists():
            return local
        with self._lock(str(local)):
            if (local / COMPLETE_MARKER).exists():
                return local
            start = self._object(prefix).rstrip("/") + "/"
            names = self._list(start)
            if not names:
                return None
            for name in names:
                target = local / name[len(start) :]
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(f".{target.name}.part")
                self.client.download_file(self.bucket, name, str(partial))
                os.replace(partial, target)
            (local / COMPLETE_MARKER).touch()
        return local

    def publish_tree(self, prefix: str, skip: tuple[str, ...] = ()) -> None:
        local = self.cache / prefix
        for file in sorted(local.rglob("*")):
            relative = file.relative_to(local)
            if not file.is_file() or relative.parts[0] in skip or file.name == COMPLETE_MARKER:
                continue
            self.client.upload_file(str(file), self.bucket, self._object(f"{prefix}/{relative.as_posix()}"))
        (local / COMPLETE_MARKER).touch()  # this process's copy is complete too

    def delete_tree(self, prefix: str) -> None:
        for name in self._list(self._object(prefix).rstrip("/") + "/"):
            self.client.delete_object(Bucket=self.bucket, Key=name)
        shutil.rmtree(self.cache / prefix, ignore_errors=True)

    def check(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)


def open_storage(url: str, data_dir: Path, endpoint_url: str = "") -> LocalStorage | S3Storage:
    """The storage ``url`` names: empty → the data folder; ``s3://bucket/prefix`` → S3 with a cache."""
    if not url:
        return LocalStorage(data_dir)
    if url.startswith("s3://"):
        return S3Storage(url, Path(data_dir) / "cache", endpoint_url)
    raise ValueError(f"storage must be empty (the data folder) or s3://bucket/prefix, not {url!r}")
