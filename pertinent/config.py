"""One frozen settings object, built once and passed explicitly (no module reads the environment).

Precedence: defaults → environment variables ``PERTINENT_<FIELD>`` → explicit overrides (CLI flags).
Every field is documented in ``docs/settings.md``, which a test keeps in step with this module.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    """Every knob of a pertinent process."""

    data_dir: Path = _setting(
        Path("pertinent-data"), "Folder for datasets (Parquet), model artifacts and the SQLite database."
    )
    db: str = _setting(
        "", "Metadata database URL: sqlite:///path or postgresql://…; empty means sqlite in data_dir."
    )
    host: str = _setting("127.0.0.1", "Address `pertinent serve` listens on.")
    port: int = _setting(8080, "Port `pertinent serve` listens on.")
    region: str = _setting("us-east-1", "Region written into the ARNs this server creates.")
    account_id: str = _setting("000000000000", "Account id written into the ARNs this server creates.")
    worker_threads: int = _setting(
        2, "Background jobs (imports, training) run at once by the embedded worker."
    )
    worker_poll_seconds: float = _setting(0.2, "How often an idle worker looks for queued jobs.")
    s3_endpoint_url: str = _setting(
        "", "Endpoint of the S3-compatible store that s3:// data locations are read from."
    )
    max_import_jobs_in_progress: int = _setting(
        5, "Pending or running import jobs allowed at once (Personalize: 5)."
    )
    ease_max_items: int = _setting(30000, "Largest catalog trained with EASE; bigger catalogs use iALS.")
    training_memory_mb: int = _setting(
        0, "Address-space cap for a training child process in MiB; 0 means none."
    )
    recommender_retrain_seconds: float = _setting(
        7 * 24 * 3600.0, "How often an ACTIVE recommender is retrained automatically (AWS: 7 days); 0: never."
    )
    metric_report_seconds: float = _setting(
        900.0, "How often metric attributions aggregate new events into a report (AWS: 15 minutes)."
    )
    credentials: str = _setting(
        "",
        "CSV file of access keys (access_key_id,secret_access_key,account_id); set, every request must be "
        "SigV4-signed by one of them and each key's account is isolated. Empty: one local account, no auth.",
    )
    allowed_paths: str = _setting(
        "",
        "Folders local import/export paths must lie under when credentials are set (separated by the OS "
        "path separator, ':' on Linux); empty with credentials: local paths refused, s3:// only.",
    )
    max_body_bytes: int = _setting(10 * 1024 * 1024, "Largest request body any surface reads (larger: 413).")
    max_json_depth: int = _setting(64, "Deepest JSON nesting any surface accepts (deeper: 400).")
    max_import_files: int = _setting(1000, "Most .csv files one folder import may read.")
    max_import_depth: int = _setting(8, "Deepest sub-folder level a folder import descends to.")
    allowed_hosts: str = _setting(
        "",
        "Comma-separated Host names accepted besides localhost/loopback when bound to loopback (a reverse "
        "proxy's public name); other Host headers are refused (DNS rebinding).",
    )
    metrics_token_file: str = _setting(
        "",
        "With credentials: a file holding a bearer token (32+ characters) that GET /metrics also accepts as "
        "`Authorization: Bearer <token>` (Prometheus' authorization.credentials_file). Empty: /metrics needs a "
        "SigV4 signature like every other path.",
    )

    storage: str = _setting(
        "",
        "Where datasets, models and job outputs live: s3://bucket/prefix, or empty for data_dir (then "
        "data_dir is the storage; with s3:// it is only this process's cache).",
    )
    cache_max_mb: int = _setting(
        0,
        "With s3:// storage: the most MiB this process's cache (data_dir/cache) may hold; past it the files "
        "used least recently are evicted, never those being served. 0: no cap.",
    )
    job_lease_seconds: float = _setting(
        30.0, "A claimed job's lease; its worker renews it every third of this, others retry it after."
    )
    job_max_attempts: int = _setting(
        3, "Claims of one job (the first plus retries after an expired lease) before it ends CREATE FAILED."
    )
    db_retry_seconds: float = _setting(
        300.0, "How long a worker retries a database that is away (with backoff) before giving a job up."
    )
    training_engine: str = _setting(
        "local", "local (a child process per training) or spark (Spark MLlib ALS for the factor recipes)."
    )
    spark_master: str = _setting("local[2]", "Spark master URL used when training_engine is spark.")

    @property
    def allowed_roots(self) -> tuple[Path, ...]:
        """``allowed_paths`` as folders (realpath-resolved where they are checked)."""
        return tuple(Path(p) for p in self.allowed_paths.split(os.pathsep) if p.strip())
    ann_min_items: int = _setting(
        50000, "Factor models with at least this many items serve from an ANN index (exact re-score)."
    )
    ann_target_recall: float = _setting(
        0.99,
        "Recall@25 against brute force, in (0, 1], that training calibrates the ANN search breadth to reach"
        " (on sampled training users', drifted and random histories; then one breadth step more as a margin).",
    )
    workers: int = _setting(0, "API processes `pertinent serve` runs (one per core when 0).")

    @property
    def db_url(self) -> str:
        return self.db or f"sqlite:///{(self.data_dir / 'pertinent.db').resolve()}"


def _coerce(kind: Any, raw: str) -> Any:
    if kind in (int, "int"):
        return int(raw)
    if kind in (float, "float"):
        return float(raw)
    if kind in (Path, "Path"):
        return Path(raw)
    return raw


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build Settings from ``environ`` (pass ``os.environ`` explicitly at the edge) and overrides.

    Overrides whose value is None are ignored, so CLI options can be passed through unconditionally.
    """
    environ = {} if environ is None else environ
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        env_name = f"PERTINENT_{f.name.upper()}"
        if env_name in environ:
            values[f.name] = _coerce(f.type, environ[env_name])
        if overrides.get(f.name) is not None:
            values[f.name] = overrides[f.name]
    unknown = set(overrides) - {f.name for f in dataclasses.fields(Settings)}
    if unknown:
        raise TypeError(f"unknown settings: {sorted(unknown)}")
    if "data_dir" in values:
        values["data_dir"] = Path(values["data_dir"])
    return Settings(**values)


def settings_help() -> list[tuple[str, str, str]]:
    """(name, default, help) for every setting, for docs and `pertinent serve --help`."""
    return [(f.name, str(f.default), str(f.metadata["help"])) for f in dataclasses.fields(Settings)]


def current_environ() -> Mapping[str, str]:
    """The process environment; only the CLI edge calls this."""
    return os.environ
