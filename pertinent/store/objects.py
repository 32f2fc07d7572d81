"""The blob storage port: datasets (Parquet), model artifacts and job outputs, by key.

Two adapters behind one interface, chosen by ``settings.storage``:

* :class:`LocalStorage` (embedded default): the data folder *is* the storage; ``path(key)`` is the file.
* :class:`S3Storage` (``s3://bucket/prefix``, scale-out): an S3-compatible object store holds everything and
  the data folder is only this process's cache. A file is downloaded once per version (keys of mutable data
  carry a version: ``bulk-<version>.parquet``), then read (memory-mapped) from the cache; a newer version
  evicts the older ones, and a deleted resource's files leave the cache too.

The cache is bounded by ``max_bytes`` (``settings.cache_max_mb``; 0: no bound). Its entries are the files
and the folders (a model artifact, a search-index snapshot) it downloaded or published; after each download
the entries used least recently are removed until the cache fits, except the one just fetched and those
*held*: :meth:`S3Storage.hold` ties an entry to the object serving from it (a loaded model, a dataset's
current file), and the entry is evictable again once that object is gone. With several processes on one
data folder each knows only its own holds (an entry it evicts that another maps stays readable there: the
mapped file outlives its name).

Keys are ``/``-separated relative paths such as ``datasets/{group}/{TYPE}/bulk.parquet`` or
``artifacts/{solution}/{id}`` (a folder, for the tree operations).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import uuid
import weakref
from pathlib import Path, PurePosixPath
from typing import Any, Protocol
from urllib.parse import urlparse

log = logging.getLogger(__name__)

#: written last into a downloaded folder: its absence means the download did not finish
COMPLETE_MARKER = ".pertinent-complete"
#: a versioned file's name (``versioned``: a 12-hex-digit version, or "none" before any import)
VERSIONED_NAME = re.compile(r"^[^.].*-([0-9a-f]{12}|none)(\.[^.]+)?$")


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

    def fetch_tree(self, prefix: str, revision: str = "") -> Path | None:
        """The local folder holding every file under ``prefix``; None when nothing is stored there. A cached
        copy of another ``revision`` (the stored files were rewritten since) is downloaded again."""

    def publish_tree(self, prefix: str, skip: tuple[str, ...] = ()) -> None:
        """Store every file written under ``path(prefix)`` (but top-level entries named in ``skip``)."""

    def delete_tree(self, prefix: str) -> None:
        """Remove everything under ``prefix``, stored and cached."""

    def prune_trees(self, prefix: str, keep: set[str]) -> None:
        """Remove the folders directly under ``prefix`` (stored and cached) but those named in ``keep``."""

    def check(self) -> None:
        """Raise unless the storage is reachable (readiness checks)."""

    def hold(self, local: Path, owner: object) -> None:
        """Keep the cached file or folder ``local`` while ``owner`` (what serves from it) is alive."""


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

    def fetch_tree(self, prefix: str, revision: str = "") -> Path | None:
        return self.fetch(prefix)

    def publish_tree(self, prefix: str, skip: tuple[str, ...] = ()) -> None:
        return None

    def delete_tree(self, prefix: str) -> None:
        shutil.rmtree(self.root / prefix, ignore_errors=True)

    def prune_trees(self, prefix: str, keep: set[str]) -> None:
        folder = self.root / prefix
        for child in folder.iterdir() if folder.is_dir() else ():
            if child.is_dir() and child.name not in keep:
                shutil.rmtree(child, ignore_errors=True)

    def check(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise OSError(f"the data folder {self.root} is not writable")

    def hold(self, local: Path, owner: object) -> None:
        return None  # the data folder is the storage: nothing is ever evicted


def _missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound")


class S3Storage:
    """An S3-compatible bucket (``s3://bucket/prefix``) with ``cache`` as this process's local copy."""

    def __init__(self, url: str, cache: Path, endpoint_url: str = "", max_bytes: int = 0) -> None:
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
        self.max_bytes = max_bytes
        #: cache entries (a file, or a folder with COMPLETE_MARKER), least recently used first
        self._used: dict[Path, None] = {}
        self._holds: dict[Path, int] = {}
        self._cache_guard = threading.Lock()
        self.evicted = 0  # entries removed to keep the cache under max_bytes (for tests and /metrics)
        self._adopt_existing()

    def _object(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    # -- single files -------------------------------------------------------------------------------
    def path(self, key: str, version: str = "") -> Path:
        return self.cache / versioned(key, version)

    # -- the cache's bookkeeping ----------------------------------------------------------------------
    def _adopt_existing(self) -> None:
        """Count what an earlier run left in the cache: complete folders and versioned files."""
        if not self.cache.is_dir():
            return
        found: list[tuple[float, Path]] = []
        for folder, subfolders, files in os.walk(self.cache):
            here = Path(folder)
            if COMPLETE_MARKER in files:
                found.append(((here / COMPLETE_MARKER).stat().st_mtime, here))
                subfolders[:] = []
                continue
            for name in files:
                if VERSIONED_NAME.search(name):  # bulk-<version>.parquet: a finished download or import
                    found.append(((here / name).stat().st_mtime, here / name))
        for _, entry in sorted(found):  # the oldest first, as if used in that order
            self._used[entry] = None

    def _touch(self, local: Path) -> None:
        with self._cache_guard:
            self._used.pop(local, None)
            self._used[local] = None  # now the most recently used

    def hold(self, local: Path, owner: object) -> None:
        local = Path(local)
        with self._cache_guard:
            self._holds[local] = self._holds.get(local, 0) + 1
        weakref.finalize(owner, self._release, local)

    def _release(self, local: Path) -> None:
        with self._cache_guard:
            left = self._holds.get(local, 0) - 1
            if left > 0:
                self._holds[local] = left
            else:
                self._holds.pop(local, None)

    def held(self, local: Path) -> bool:
        with self._cache_guard:
            return Path(local) in self._holds

    @staticmethod
    def _size(local: Path) -> int:
        try:
            if local.is_dir():
                return sum(f.stat().st_size for f in local.rglob("*") if f.is_file())
            return local.stat().st_size
        except OSError:  # removed meanwhile
            return 0

    def cache_bytes(self) -> int:
        """What the cache's entries take on disk now."""
        with self._cache_guard:
            entries = list(self._used)
        return sum(self._size(e) for e in entries)

    def _fit(self, keep: Path) -> None:
        """Evict the least recently used entries, never ``keep`` nor a held one, until the cache fits."""
        if self.max_bytes <= 0:
            return
        with self._cache_guard:
            entries = list(self._used)
            holds = set(self._holds)
        sizes = {path: self._size(path) for path in entries}
        total = sum(sizes.values())
        for path in entries:
            if total <= self.max_bytes:
                return
            if path == keep or path in holds:
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            with self._cache_guard:
                self._used.pop(path, None)
            total -= sizes[path]
            self.evicted += 1
            log.info("evicted %s from the cache (%d bytes)", path, sizes[path])
        if total > self.max_bytes:
            log.warning(
                "the cache holds %d bytes, over its cap of %d, all in use (raise cache_max_mb)",
                total,
                self.max_bytes,
            )

    def fetch(self, key: str, version: str = "") -> Path | None:
        local = self.path(key, version)
        if local.exists():
            self._touch(local)
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
            self._touch(local)
        if version:
            self._evict_other_versions(key, version)
        self._fit(keep=local)
        return local

    def _evict_other_versions(self, key: str, version: str) -> None:
        pure = PurePosixPath(key)
        keep = self.path(key, version)
        for old in (self.cache / str(pure.parent)).glob(f"{pure.stem}-*{pure.suffix}"):
            if old != keep and not old.name.startswith(".") and not self.held(old):
                old.unlink(missing_ok=True)  # readers holding it open (mmap) keep their copy until closed
                with self._cache_guard:
                    self._used.pop(old, None)

    def publish(self, key: str, version: str = "") -> None:
        local = self.path(key, version)
        self.client.upload_file(str(local), self.bucket, self._object(versioned(key, version)))
        self._touch(local)
        self._fit(keep=local)

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

    @staticmethod
    def _complete(local: Path, revision: str) -> bool:
        """Whether ``local`` holds a finished download of ``revision`` (the marker's text)."""
        try:
            return (local / COMPLETE_MARKER).read_text() == revision
        except OSError:
            return False

    def fetch_tree(self, prefix: str, revision: str = "") -> Path | None:
        local = self.cache / prefix
        if self._complete(local, revision):
            self._touch(local)
            return local
        with self._lock(str(local)):
            if self._complete(local, revision):
                self._touch(local)
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
                os.replace(partial, target)  # a model mapping the older file keeps reading it
            (local / COMPLETE_MARKER).write_text(revision)
            self._touch(local)
        self._fit(keep=local)
        return local

    def publish_tree(self, prefix: str, skip: tuple[str, ...] = ()) -> None:
        local = self.cache / prefix
        for file in sorted(local.rglob("*")):
            relative = file.relative_to(local)
            if not file.is_file() or relative.parts[0] in skip or file.name == COMPLETE_MARKER:
                continue
            self.client.upload_file(str(file), self.bucket, self._object(f"{prefix}/{relative.as_posix()}"))
        (local / COMPLETE_MARKER).touch()  # this process's copy is complete too
        self._touch(local)
        self._fit(keep=local)

    def delete_tree(self, prefix: str) -> None:
        for name in self._list(self._object(prefix).rstrip("/") + "/"):
            self.client.delete_object(Bucket=self.bucket, Key=name)
        shutil.rmtree(self.cache / prefix, ignore_errors=True)
        self._forget(self.cache / prefix)

    def _forget(self, folder: Path) -> None:
        with self._cache_guard:
            for entry in [e for e in self._used if e == folder or folder in e.parents]:
                self._used.pop(entry, None)

    def prune_trees(self, prefix: str, keep: set[str]) -> None:
        start = self._object(prefix).rstrip("/") + "/"
        for name in self._list(start):
            if name[len(start) :].split("/", 1)[0] not in keep:
                self.client.delete_object(Bucket=self.bucket, Key=name)
        folder = self.cache / prefix
        for child in folder.iterdir() if folder.is_dir() else ():
            if child.is_dir() and child.name not in keep:
                shutil.rmtree(child, ignore_errors=True)
                self._forget(child)

    def check(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)


def open_storage(
    url: str, data_dir: Path, endpoint_url: str = "", cache_max_bytes: int = 0
) -> LocalStorage | S3Storage:
    """The storage ``url`` names: empty → the data folder; ``s3://bucket/prefix`` → S3 with a cache (of at
    most ``cache_max_bytes``; 0: unbounded)."""
    if not url:
        return LocalStorage(data_dir)
    if url.startswith("s3://"):
        return S3Storage(url, Path(data_dir) / "cache", endpoint_url, cache_max_bytes)
    raise ValueError(f"storage must be empty (the data folder) or s3://bucket/prefix, not {url!r}")
