"""The access keys a server accepts: a CSV file ``access_key_id,secret_access_key,account_id``.

``pertinent serve --credentials FILE`` loads it (and reloads it when it changes, so a key added with
``pertinent keys create`` works without a restart); :func:`create_key` appends a fresh key pair.
"""

from __future__ import annotations

import csv
import io
import os
import re
import secrets
import string
import threading
from dataclasses import dataclass
from pathlib import Path

HEADER = ("access_key_id", "secret_access_key", "account_id")
ACCOUNT_ID = re.compile(r"^\d{12}$")
ACCESS_KEY_ID = re.compile(r"^[A-Z0-9]{16,128}$")


class CredentialsError(ValueError):
    """The credentials file cannot be used; the message says which line and why (never a secret)."""


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    secret_access_key: str
    account_id: str


#: the shortest bearer token a metrics token file may hold (``pertinent keys metrics-token`` writes 43)
MIN_TOKEN_LENGTH = 32
TOKEN_CHARS = re.compile(r"^[A-Za-z0-9._~+/=-]+$")


def read_bearer_token(path: Path) -> str:
    """The token in a metrics token file (one line, surrounding whitespace ignored, as Prometheus'
    ``credentials_file`` reads it); CredentialsError when missing, short or not one token."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"metrics token file {path}: cannot be read ({type(exc).__name__})") from None
    if len(token) < MIN_TOKEN_LENGTH or not TOKEN_CHARS.match(token):
        raise CredentialsError(
            f"metrics token file {path}: must hold one token of at least {MIN_TOKEN_LENGTH} letters, digits or "
            "-._~+/= (create one with `pertinent keys metrics-token FILE`)"
        )
    return token


def create_bearer_token(path: Path) -> None:
    """Write a fresh random metrics token to ``path`` (readable by its owner only); refuses to overwrite."""
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")


def parse_credentials(text: str, source: str = "credentials file") -> dict[str, AccessKey]:
    """The keys in ``text`` by access key id; CredentialsError on a bad header, line or duplicate."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != HEADER:
        raise CredentialsError(f"{source}: the first line must be the header {','.join(HEADER)}")
    keys: dict[str, AccessKey] = {}
    for line, row in enumerate(reader, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != 3:
            raise CredentialsError(f"{source} line {line}: expected 3 columns, found {len(row)}")
        key_id, secret, account = (cell.strip() for cell in row)
        if not ACCESS_KEY_ID.match(key_id):
            raise CredentialsError(
                f"{source} line {line}: access_key_id must be 16-128 upper-case letters and digits"
            )
        if len(secret) < 16:
            raise CredentialsError(f"{source} line {line}: secret_access_key is shorter than 16 characters")
        if not ACCOUNT_ID.match(account):
            raise CredentialsError(f"{source} line {line}: account_id must be 12 digits")
        if key_id in keys:
            raise CredentialsError(f"{source} line {line}: access key {key_id} is listed twice")
        keys[key_id] = AccessKey(key_id, secret, account)
    return keys


class KeyRing:
    """The keys of a credentials file, re-read when the file changes (modification time, size or inode:
    one ``stat`` per lookup), so a key added works at once and a key removed stops working at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._keys: dict[str, AccessKey] = {}
        self._load()

    def _load(self) -> None:
        try:
            stat = self.path.stat()
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CredentialsError(f"cannot read the credentials file {self.path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise CredentialsError(f"the credentials file {self.path} is not UTF-8 text") from None
        self._keys = parse_credentials(text, str(self.path))
        self._stamp = _stamp(stat)

    def get(self, access_key_id: str) -> AccessKey | None:
        """The key, re-reading the file first if it changed (a broken edit keeps the previous keys; a
        missing file too, as an editor may replace it)."""
        stamp: tuple[int, int, int] | None
        try:
            stamp = _stamp(self.path.stat())
        except OSError:
            stamp = self._stamp
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    try:
                        self._load()
                    except CredentialsError:
                        self._stamp = stamp  # not parsed again until the next edit
        return self._keys.get(access_key_id)

    def __len__(self) -> int:
        return len(self._keys)


def _stamp(stat: os.stat_result) -> tuple[int, int, int]:
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def new_access_key(account_id: str) -> AccessKey:
    """A fresh random key pair in AWS's shapes (20-character id starting AKIA, 40-character secret)."""
    if not ACCOUNT_ID.match(account_id):
        raise CredentialsError("the account id must be 12 digits")
    alphabet = string.ascii_uppercase + "234567"
    key_id = "AKIA" + "".join(secrets.choice(alphabet) for _ in range(16))
    secret_alphabet = string.ascii_letters + string.digits + "+/"
    secret = "".join(secrets.choice(secret_alphabet) for _ in range(40))
    return AccessKey(key_id, secret, account_id)


def create_key(path: Path, account_id: str) -> AccessKey:
    """Append a new key for ``account_id`` to the file at ``path`` (created, mode 0600, with its header)."""
    key = new_access_key(account_id)
    if path.exists():
        parse_credentials(path.read_text(encoding="utf-8"), str(path))  # refuse to append to a broken file
        text = path.read_text(encoding="utf-8")
        prefix = "" if text.endswith("\n") or not text else "\n"
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        prefix = ",".join(HEADER) + "\n"
    with path.open("a", encoding="utf-8", newline="") as f:
        f.write(prefix + f"{key.access_key_id},{key.secret_access_key},{key.account_id}\n")
    return key
