"""One settings object: `HOMEPORT_*` environment variables, then command-line flags.

Nothing reads the environment at import time; the CLI builds a `Settings` and passes it down.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

PREFIX = "HOMEPORT_"


def _default_data_dir() -> Path:
    return Path.home() / ".homeport"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = field(default_factory=_default_data_dir)
    region: str = "us-east-1"
    account_id: str = "000000000000"
    # The key pair requests are signed with; more pairs in `keys_file` (AWS credentials-file format). With
    # neither, a pair is generated at the first start and kept in the data directory.
    access_key_id: str = ""
    secret_access_key: str = ""
    keys_file: str = ""
    # SageMaker's container contract: a model has 60 s to answer /invocations.
    model_timeout_s: float = 60.0
    # How long a new instance has to pass /ping before the endpoint is Failed.
    startup_timeout_s: float = 240.0
    # How often the endpoint controller checks instance health.
    health_interval_s: float = 1.0
    max_endpoints: int = 100
    # A serverless variant with no request for this long stops its instances (all but its provisioned concurrency's),
    # and one instance takes this many of its requests at once before another is started for them.
    serverless_idle_s: float = 120.0
    serverless_requests_per_instance: int = 4
    # Data capture writes what it gathered at least this often (seconds), one object per endpoint, variant and hour.
    capture_flush_s: float = 10.0
    max_instances_per_variant: int = 16
    # Fork instances from a process that has their imports done (starts in ms, not ~0.5 s).
    prefork: bool = True
    # "process": each instance is a process of its own (isolated). "inline": instances are served from the server's
    # own event loop (engines/inline.py): no second process on a request's path, and no isolation.
    instance_mode: str = "process"
    # Instances listen on TCP on this address of this machine, each answering only requests with its own secret, so
    # that front doors on other machines route to them too. Empty: Unix sockets, which this machine's alone reach.
    instance_host: str = ""
    # Where instances run: "local" (this machine: processes, or the server's own loop per `instance_mode`) or "ray"
    # (actors on the nodes of the Ray cluster at `ray_address`, the `ray` extra; "auto": the one `ray start` began
    # on this machine).
    engine: str = "local"
    ray_address: str = "auto"
    # Largest unpacked model archive accepted (bytes).
    max_model_bytes: int = 20 * 1024**3
    # A multi-model variant's downloaded models kept on disk, at most (bytes; the variant's VolumeSizeInGB wins).
    model_disk_bytes: int = 30 * 1024**3
    # How long InvokeEndpoint waits for a multi-model endpoint's model to load before ModelNotReadyException
    # (the load goes on); SageMaker's 60 s.
    model_load_wait_s: float = 60.0
    # The model registry's gate: only versions whose ModelApprovalStatus is Approved may be deployed (CreateModel,
    # CreateEndpoint, UpdateEndpoint, CreateTransformJob of a model made from a model package).
    require_approved_models: bool = False
    # Webhooks (comma-separated http(s) URLs) that get SageMaker's state-change events, as EventBridge sends them.
    event_webhooks: str = ""
    log_level: str = "info"
    # The web console's session cookie is sent over HTTPS only (Secure): set it when a TLS proxy fronts the server.
    console_https_only: bool = False
    # A reply that acknowledges a write (an object stored, a resource created, an async request accepted) leaves
    # after the write is on disk: SQLite syncs its log at each commit, the object store its files and directories.
    # False: a crash of the server still loses nothing, but a power loss may lose the last acknowledged writes.
    durable_commits: bool = True
    # Endpoint metrics are aggregated per period (CloudWatch's 60 s); alarms and scaling policies act on it, so a
    # short one (1 s) lets tests and demos watch them in seconds.
    metric_period_seconds: int = 60
    metric_retention_seconds: float = 15 * 86400.0  # as CloudWatch keeps one-minute data
    # CloudWatch Logs keeps a group's events this long unless PutRetentionPolicy says otherwise (days), and at most
    # this much of each stream (MiB; the oldest events go first).
    log_retention_days: int = 30
    log_stream_max_mb: int = 256
    # An external S3-compatible store for s3:// URIs (then the embedded store's S3 face is off).
    s3_endpoint_url: str = ""
    s3_region: str = ""  # defaults to `region`
    s3_access_key_id: str = ""  # empty: s3fs/botocore's own credential chain (AWS_* variables, profiles)
    s3_secret_access_key: str = ""
    # Where the state is: a SQLAlchemy URL, postgresql+psycopg://user:password@host/db for PostgreSQL (the
    # `postgres` extra). Empty: SQLite, homeport.db in the data directory.
    database_url: str = ""

    @property
    def database(self) -> str:
        """The SQLAlchemy URL of the state's database."""
        return self.database_url or f"sqlite:///{self.data_dir / 'homeport.db'}"

    @property
    def objects_dir(self) -> Path:
        return self.data_dir / "objects"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def logs_dir(self) -> Path:
        """What instances and jobs write (their stdout and stderr), shipped into CloudWatch Logs' streams."""
        return self.data_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then `HOMEPORT_*` variables from `env`, then explicit overrides (flags)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _coerce(f, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "data_dir" in values:
            values["data_dir"] = Path(values["data_dir"]).expanduser().resolve()
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _coerce(f: dataclasses.Field[Any], raw: str) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "str")
    if kind == "bool":
        if raw.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if raw.strip().lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{PREFIX}{f.name.upper()}={raw!r} is not a valid bool (use true or false)")
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError as exc:
        raise ValueError(f"{PREFIX}{f.name.upper()}={raw!r} is not a valid {kind}") from exc
    if kind == "Path":
        return Path(raw)
    return raw
