"""Data locations as Personalize names them: a file or a folder, on local disk or in an S3-compatible store.

``/data/ratings.csv``, ``file:///data/ratings.csv``, ``s3://bucket/ratings.csv`` and folder prefixes ending
in ``/`` (every ``.csv`` below it) are accepted for reading; the same forms name export destinations.

Local paths follow a :class:`LocationPolicy` (docs/security.md): with credentials they must resolve
(``realpath``: symlinks and ``..`` followed) inside an ``--allow-path`` root, checked when the job is
created and again when each file is opened. Always: only regular files are read, a folder import is
bounded in depth and file count, and an export creates its file exclusively — it never replaces a file.

With object storage (``--storage s3://…``, share-nothing) a job runs on whichever worker claims it, so a
local path would be read from, or an output written to, that worker's own disk: local paths are refused
unless they are under an ``--allow-path`` root (a folder every worker mounts). The server's own storage
prefix is refused as a location too (it holds every account's data and models), except the calling
account's console uploads for reading.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlparse

from pertinent.caller import current_caller
from pertinent.config import Settings
from pertinent.errors import ImportFailure, InvalidInputException

Opener = Callable[[], BinaryIO]
#: a folder import looks at no more than this many entries (files and sub-folders, wanted or not) per file
#: it may read, so a huge tree of other files is refused quickly instead of walked to the end
ENTRIES_PER_FILE = 10


class LocationRefused(Exception):
    """A local path the policy does not allow; the message names the path as given, never file content."""


@dataclass(frozen=True)
class LocationPolicy:
    """Where local imports and exports may go. ``confined``: only under ``roots`` (realpaths)."""

    confined: bool = False
    roots: tuple[Path, ...] = ()
    max_files: int = 1000
    max_depth: int = 8
    #: the server's object storage (``s3://bucket/prefix``; empty: the data folder) and, inside it, the
    #: prefix the caller may read (its console uploads)
    storage: str = ""
    readable: str = ""

    @classmethod
    def of(cls, settings: Settings, *extra_roots: Path) -> LocationPolicy:
        """The server's policy; ``extra_roots`` are allowed too (the calling account's console uploads;
        with object storage those are in the store, so local ones are not added)."""
        if settings.storage:
            extra_roots = ()
        return cls(
            confined=bool(settings.credentials) or bool(settings.storage),
            roots=tuple(Path(os.path.realpath(root)) for root in (*settings.allowed_roots, *extra_roots)),
            max_files=settings.max_import_files,
            max_depth=settings.max_import_depth,
            storage=settings.storage.rstrip("/"),
            readable=_uploads_url(settings) if settings.storage else "",
        )

    def check_s3(self, location: str, writing: bool = False) -> None:
        """LocationRefused for an ``s3://`` location inside the server's own storage (but the caller's
        uploads, for reading)."""
        if not self.storage:
            return
        target = location.rstrip("/") + "/"
        if not target.startswith(self.storage + "/"):
            return
        if not writing and self.readable and target.startswith(self.readable):
            return
        raise LocationRefused(
            f"{_clip(location)!r} is inside this server's own storage ({self.storage}), which holds every "
            "account's data and models; use another bucket or prefix."
        )

    def allows(self, real: Path) -> bool:
        return not self.confined or any(real == root or root in real.parents for root in self.roots)

    def resolve(self, location: str) -> Path:
        """The real path of a local ``location``, or LocationRefused when the policy does not allow it."""
        shown = _clip(location)
        if "\x00" in location:
            raise LocationRefused(f"The path {shown!r} contains a NUL character.")
        path = _local_path(location)
        if self.confined and not path.is_absolute():
            raise LocationRefused(f"The path {shown!r} is not absolute; give a full path or an s3:// URL.")
        real = Path(os.path.realpath(path))
        if not self.allows(real):
            if self.storage and not self.roots:
                raise LocationRefused(
                    f"This server keeps its data in object storage ({self.storage}) and any worker may run "
                    f"the job, so local paths are refused ({shown!r}): use an s3:// location, or start "
                    "every process with --allow-path DIR for a folder all of them mount."
                )
            if not self.roots:
                raise LocationRefused(
                    f"Local paths are disabled on this server ({shown!r}); use s3://, or start the server "
                    "with --allow-path DIR."
                )
            raise LocationRefused(
                f"The path {shown!r} is outside the folders this server may use (--allow-path); symlinks "
                "and '..' are resolved before the check."
            )
        return real


def _uploads_url(settings: Settings) -> str:
    """``s3://bucket/prefix/[accounts/{account}/{region}/]uploads/``: the calling account's console
    uploads with object storage (the layout of ``Context.uploads_key``)."""
    caller = current_caller()
    account, region = (caller.account_id, caller.region) if caller else (settings.account_id, settings.region)
    own = (account, region) == (settings.account_id, settings.region)
    return f"{settings.storage.rstrip('/')}/{'' if own else f'accounts/{account}/{region}/'}uploads/"


def _clip(text: str, width: int = 200) -> str:
    return text if len(text) <= width else text[:width] + "…"


def check_location(location: str, policy: LocationPolicy, writing: bool = False) -> None:
    """Reject a location we can never read (or, ``writing``, write) or may not use, at request time
    (InvalidInputException)."""
    scheme = urlparse(location).scheme
    shown = _clip(location)
    if scheme in ("http", "https"):
        raise InvalidInputException(
            f"dataLocation {shown!r}: http(s) locations are not supported; use s3://, file:// or a local path."
        )
    if scheme not in ("", "file", "s3"):
        raise InvalidInputException(f"dataLocation {shown!r}: unknown scheme {_clip(scheme, 20)!r}.")
    if scheme == "s3":
        if not urlparse(location).netloc:
            raise InvalidInputException(f"dataLocation {shown!r} names no bucket.")
        try:
            policy.check_s3(location, writing=writing)
        except LocationRefused as exc:
            raise InvalidInputException(str(exc)) from None
        return
    try:
        policy.resolve(location)
    except LocationRefused as exc:
        raise InvalidInputException(str(exc)) from None


def _local_path(location: str) -> Path:
    parsed = urlparse(location)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(location)


def s3_client(endpoint_url: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url or None)


def open_sources(
    location: str, s3_endpoint_url: str = "", suffix: str = ".csv", *, policy: LocationPolicy
) -> list[tuple[str, Opener]]:
    """The files at ``location`` as (display name, opener); ImportFailure when there are none.

    A folder (or S3 prefix) contributes every file whose name ends in ``suffix`` (``""``: every file
    except hidden ones and batch outputs, ``*.out``)."""
    if urlparse(location).scheme == "s3":
        try:
            policy.check_s3(location)
        except LocationRefused as exc:
            raise ImportFailure(str(exc)) from None
        return _s3_sources(location, s3_endpoint_url, suffix, policy.max_files)
    try:
        path = policy.resolve(location)
    except LocationRefused as exc:
        raise ImportFailure(str(exc)) from None
    if path.is_dir():
        files = _folder_files(path, location, suffix, policy)
        if not files:
            raise ImportFailure(f"The folder {_clip(location)} contains no {suffix or 'input'} files.")
    elif path.is_file():
        files = [path]
    elif path.exists():
        raise ImportFailure(f"{_clip(location)} is not a regular file or a folder.")
    else:
        raise ImportFailure(f"No file or folder at {_clip(location)}.")
    return [(p.name, _file_opener(p, policy)) for p in files]


def _folder_files(folder: Path, location: str, suffix: str, policy: LocationPolicy) -> list[Path]:
    """The wanted files under ``folder`` (symlinked sub-folders are not followed), bounded."""
    files: list[Path] = []
    entries, most_entries = 0, policy.max_files * ENTRIES_PER_FILE
    for current, dirs, names in os.walk(folder, followlinks=False):
        entries += len(dirs) + len(names)
        if entries > most_entries:
            raise ImportFailure(
                f"The folder {_clip(location)} holds more than {most_entries} files and folders "
                f"({ENTRIES_PER_FILE} per {suffix or 'input'} file it may read); import a sub-folder."
            )
        depth = len(Path(current).relative_to(folder).parts)
        if depth > policy.max_depth:
            raise ImportFailure(
                f"The folder {_clip(location)} nests deeper than {policy.max_depth} levels; import a "
                "sub-folder or flatten it."
            )
        dirs.sort()
        for name in sorted(names):
            if not _wanted(name, suffix):
                continue
            candidate = Path(current) / name
            real = Path(os.path.realpath(candidate))
            if not policy.allows(real):
                shown = _clip(str(candidate.relative_to(folder)))
                raise ImportFailure(f"{shown!r} in {_clip(location)} links outside the allowed folders.")
            if real.is_file():
                files.append(real)
            if len(files) > policy.max_files:
                raise ImportFailure(
                    f"The folder {_clip(location)} holds more than {policy.max_files} {suffix or 'input'} "
                    "files; import fewer at a time."
                )
    return files


def _wanted(name: str, suffix: str) -> bool:
    if suffix:
        return name.endswith(suffix)
    return not name.startswith(".") and not name.endswith(".out")


def _file_opener(path: Path, policy: LocationPolicy) -> Opener:
    def open_file() -> BinaryIO:
        return open_regular_file(path, policy)

    return open_file


def open_regular_file(path: Path, policy: LocationPolicy) -> BinaryIO:
    """Open ``path`` for reading if it is (still) a regular file the policy allows.

    Opened without following a final symlink and without blocking (a FIFO would otherwise hang the job);
    the file actually opened is checked again through ``/proc/self/fd``, so swapping a folder for a
    symlink between the check and the open does not escape the allowed roots."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ImportFailure(f"{_clip(path.name)} could not be opened: {exc.strerror}.") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ImportFailure(f"{_clip(path.name)} is not a regular file.")
        proc = Path(f"/proc/self/fd/{fd}")
        if policy.confined and proc.exists() and not policy.allows(Path(os.readlink(proc))):
            raise ImportFailure(f"{_clip(path.name)} moved outside the allowed folders.")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _s3_sources(location: str, endpoint_url: str, suffix: str, max_files: int) -> list[tuple[str, Opener]]:
    """The objects at ``location``; a prefix is bounded like a folder (``max_files`` wanted objects, ten
    listed objects per file)."""
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
        listed = 0
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
            contents = page.get("Contents", [])
            listed += len(contents)
            keys.extend(o["Key"] for o in contents if _wanted(o["Key"].rsplit("/", 1)[-1], suffix))
            if len(keys) > max_files or listed > max_files * ENTRIES_PER_FILE:
                raise ImportFailure(
                    f"The prefix {_clip(location)} holds more than {max_files} {suffix or 'input'} objects "
                    f"(or {max_files * ENTRIES_PER_FILE} objects in all); import fewer at a time."
                )
    except (ClientError, BotoCoreError) as exc:
        raise ImportFailure(f"Cannot read {location}: {exc}") from None
    if not keys:
        raise ImportFailure(f"No {suffix or 'input'} objects under {location}.")
    return [(k.rsplit("/", 1)[-1], opener(k)) for k in sorted(keys)]


def write_output(
    location: str, name: str, data: bytes, s3_endpoint_url: str = "", *, policy: LocationPolicy
) -> str:
    """Write ``data`` as ``name`` inside the destination folder ``location``; returns where it went.

    A local file is created exclusively (written to a new temporary file, then hard-linked into place), so
    an export never replaces or writes through an existing file or symlink: that is ImportFailure."""
    parsed = urlparse(location)
    if parsed.scheme == "s3":
        try:
            policy.check_s3(location, writing=True)
        except LocationRefused as exc:
            raise ImportFailure(str(exc)) from None
        key = parsed.path.lstrip("/")
        key = f"{key.rstrip('/')}/{name}" if key else name
        s3_client(s3_endpoint_url).put_object(Bucket=parsed.netloc, Key=key, Body=data)
        return f"s3://{parsed.netloc}/{key}"
    if "/" in name or name in ("", ".", ".."):
        raise ImportFailure(f"{_clip(name)!r} is not a file name.")
    try:
        folder = policy.resolve(location)
    except LocationRefused as exc:
        raise ImportFailure(str(exc)) from None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImportFailure(f"The folder {_clip(location)} could not be created: {exc.strerror}.") from None
    target = folder / name
    tmp = folder / f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(tmp, flags, 0o644)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.link(tmp, target, follow_symlinks=False)
    except FileExistsError:
        raise ImportFailure(
            f"{_clip(str(target))} already exists; an export never overwrites a file. Choose another folder "
            "or remove the file."
        ) from None
    except OSError as exc:
        raise ImportFailure(f"{_clip(str(target))} could not be written: {exc.strerror}.") from None
    finally:
        tmp.unlink(missing_ok=True)
    return str(target)
