"""Typed, frozen, validated configuration.

Loaded from YAML, then overridden by environment variables named
``VECBRIDGE_<SECTION>__<KEY>`` (double underscore between levels), e.g.
``VECBRIDGE_TARGET__API_KEY``. Unknown keys and out-of-range values are rejected with
the key's dotted path in the message. Relative paths are resolved against the
directory of the config file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

ENV_PREFIX = "VECBRIDGE_"


class ConfigError(ValueError):
    """The configuration could not be loaded; the message names the key path."""


class Phase(StrEnum):
    """Where a migration stands (see design.md)."""

    PASSTHROUGH = "passthrough"
    MIRROR = "mirror"
    SHADOW = "shadow"
    CANARY = "canary"
    CUTOVER = "cutover"
    FINALIZED = "finalized"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ListenConfig(_Section):
    host: str = Field("127.0.0.1", description="Address apps connect to.")
    port: int = Field(8000, ge=1, le=65535, description="Port apps connect to.")


class EmbeddedChromaConfig(_Section):
    path: Path = Field(Path("data/chroma"), description="Data directory of the embedded Chroma.")
    host: str = Field("127.0.0.1", description="Address the embedded Chroma binds.")
    port: int = Field(8001, ge=1, le=65535, description="Port of the embedded Chroma.")
    startup_timeout_seconds: float = Field(60.0, gt=0, description="Wait this long for health.")


class SourceConfig(_Section):
    engine: Literal["chroma"] = Field("chroma", description="Engine of the store the app uses now.")
    url: str | None = Field(
        None, description="Base URL of the source; null starts an embedded one."
    )
    embedded: EmbeddedChromaConfig = Field(default_factory=EmbeddedChromaConfig)  # type: ignore[arg-type]
    tenants: list[str] = Field(
        default_factory=list,
        description="Tenants whose databases plan, backfill, validate and the cutover check "
        "walk, besides default_tenant, the credentials' own and those the app opened through "
        "the proxy (Chroma cannot list tenants).",
    )


class TargetConfig(_Section):
    engine: Literal["qdrant"] = Field("qdrant", description="Engine of the store to migrate to.")
    url: str | None = Field(
        None, description="Qdrant URL; null uses embedded local mode at `path`."
    )
    api_key: SecretStr | None = Field(None, description="Qdrant API key (prefer the env override).")
    path: Path | None = Field(
        Path("data/qdrant"), description="Local-mode directory when url is null."
    )
    timeout_seconds: float = Field(30.0, gt=0, description="Per-call timeout against the target.")
    exact_search: bool = Field(
        False, description="Brute-force search on the target (parity tests)."
    )


class UpstreamConfig(_Section):
    connect_timeout_seconds: float = Field(5.0, gt=0, description="TCP connect timeout to primary.")
    request_timeout_seconds: float = Field(120.0, gt=0, description="Whole-request timeout.")
    pool_size: int = Field(128, ge=1, le=10_000, description="Pooled connections to the primary.")


class LimitsConfig(_Section):
    max_body_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 above)."
    )


class JournalConfig(_Section):
    path: Path = Field(Path("data/journal.sqlite"), description="SQLite file of the journal.")
    group_commit_max: int = Field(512, ge=1, description="Most entries made durable in one fsync.")
    retain_applied: int = Field(
        100_000, ge=0, description="Applied entries kept for catch-up before pruning."
    )
    prune_interval_seconds: float = Field(
        30.0, gt=0, description="How often applied entries past retain_applied are deleted."
    )
    intent_fsync: bool = Field(
        False,
        description="fsync each write's intent before forwarding it (survives a host crash "
        "mid-write; one more fsync per write). Acknowledged writes are always fsync'ed.",
    )


class ApplierConfig(_Section):
    batch_max_records: int = Field(512, ge=1, description="Records sent to the target per call.")
    retry_initial_seconds: float = Field(0.05, gt=0, description="First retry delay.")
    retry_max_seconds: float = Field(5.0, gt=0, description="Longest retry delay.")
    max_rejections: int = Field(
        3, ge=1, description="Permanent rejections of an entry before it is dead-lettered."
    )


class MigrationConfig(_Section):
    initial_phase: Phase = Field(Phase.MIRROR, description="Phase when no state is stored yet.")
    state_path: Path = Field(Path("data/state.sqlite"), description="Persisted phase and settings.")
    drain_timeout_seconds: float = Field(
        30.0, gt=0, description="Longest wait for a journal to drain around cutover (a phase "
        "move is refused after it; a collection write in cutover fails)."
    )


class ShadowConfig(_Section):
    sample_rate: float = Field(0.0, ge=0.0, le=1.0, description="Share of reads mirrored.")
    queue_size: int = Field(256, ge=1, description="Shadow reads waiting; overflow is dropped.")
    timeout_seconds: float = Field(2.0, gt=0, description="Give up on a shadow read after this.")
    concurrency: int = Field(4, ge=1, description="Shadow reads in flight at once.")
    worst_kept: int = Field(50, ge=0, description="Worst mismatches kept for GET /-/shadow.")
    max_cpu_share: float | None = Field(
        0.05, gt=0, description="CPU shadow reads may use in the proxy, as a share of one "
        "core; beyond it new shadow reads are dropped and counted (null = no cap).",
    )
    noise_floor_every: int = Field(
        0, ge=0, description="Every Nth sampled query also asks the primary twice (0 = off)."
    )
    mismatch_log: Path | None = Field(
        None, description="JSON-lines file of every mismatch (ids only, no data); null = off."
    )
    mismatch_log_max_bytes: int = Field(
        10 * 1024 * 1024, ge=4096, description="Rotate the mismatch log to <file>.1 past this."
    )


class RampStep(_Section):
    percent: float = Field(ge=0.0, le=100.0, description="Canary share during this step.")
    min_seconds: float = Field(60.0, ge=0.0, description="Stay at least this long on the step.")
    analysis: bool = Field(True, description="Advance only when the guard's analysis passes.")


class RampConfig(_Section):
    enabled: bool = Field(False, description="Walk the steps on its own while in canary.")
    steps: tuple[RampStep, ...] = Field((), description="Canary steps, in order.")
    check_seconds: float = Field(1.0, gt=0, description="How often the ramp looks at its step.")


class CanaryConfig(_Section):
    percent: float = Field(0.0, ge=0.0, le=100.0, description="Share of reads from the new store.")
    sticky_header: str | None = Field(None, description="Header that keys stickiness (tenant...).")
    ramp: RampConfig = Field(default_factory=RampConfig)  # type: ignore[arg-type]


class GuardConfig(_Section):
    enabled: bool = Field(True, description="Roll back on its own when a rule is breached.")
    window_seconds: float = Field(60.0, gt=0, description="Sliding window the rules look at.")
    min_samples: int = Field(20, ge=1, description="Samples a rule needs before it can trip.")
    check_seconds: float = Field(0.5, gt=0, description="How often the rules are evaluated.")
    max_error_rate: float | None = Field(
        0.05, ge=0.0, le=1.0, description="New-store error share of canary reads; null = off."
    )
    max_latency_delta_p50_seconds: float | None = Field(
        0.1, ge=0.0, description="New minus old p50 read latency; null = off."
    )
    max_latency_delta_p99_seconds: float | None = Field(
        0.5, ge=0.0, description="New minus old p99 read latency; null = off."
    )
    min_recall: float | None = Field(
        0.9, ge=0.0, le=1.0, description="Mean shadow recall@k below this trips; null = off."
    )
    max_journal_lag_seconds: float | None = Field(
        60.0, ge=0.0, description="Age of the oldest unapplied entry; null = off."
    )
    max_journal_lag_entries: int | None = Field(
        None, ge=0, description="Unapplied journal entries; null = off."
    )


class WebhookEndpoint(_Section):
    url: str = Field(description="Where alerts are POSTed (kept out of logs).")
    format: Literal["json", "slack"] = Field("json", description="Payload shape.")


class WebhooksConfig(_Section):
    endpoints: tuple[WebhookEndpoint, ...] = Field((), description="Alert receivers.")
    timeout_seconds: float = Field(5.0, gt=0, description="Per-POST timeout.")
    retries: int = Field(3, ge=0, le=10, description="Retries of a failed POST.")


class ReloadConfig(_Section):
    watch_seconds: float | None = Field(
        2.0, gt=0, description="Poll the config file for changes this often; null = SIGHUP only."
    )


class MetricsConfig(_Section):
    max_collection_labels: int = Field(
        50, ge=0, description="Distinct collection label values before folding into 'other'."
    )


class AdminConfig(_Section):
    enabled: bool = Field(True, description="Serve the admin API on its own port.")
    host: str = Field("127.0.0.1", description="Admin API address (loopback by default).")
    port: int = Field(8081, ge=1, le=65535, description="Admin API port.")
    token: SecretStr | None = Field(
        None, description="Bearer token for the admin API; prefer VECBRIDGE_ADMIN__TOKEN."
    )


class FaultsConfig(_Section):
    enabled: bool = Field(False, description="Allow fault injection via POST /-/faults (tests).")


class ValidationConfig(_Section):
    min_recall: float = Field(0.95, ge=0.0, le=1.0, description="Lowest mean recall@k that passes.")
    k: int = Field(10, ge=1, le=1000, description="Neighbours compared per test query.")
    sample_size: int = Field(1000, ge=1, description="Records compared by a sampled validate.")
    queries: int = Field(20, ge=0, description="Test queries sampled from the data.")
    vector_tolerance: float = Field(1e-6, ge=0, description="Largest vector element difference.")


class ClusterConfig(_Section):
    postgres_dsn: SecretStr | None = Field(
        None,
        description="PostgreSQL shared by every replica (journal, control state); "
        "null = one process on SQLite. Prefer VECBRIDGE_CLUSTER__POSTGRES_DSN.",
    )
    replica_id: str | None = Field(
        None, description="This replica's name in status and leases; null = host name + pid."
    )
    lease_seconds: float = Field(
        10.0, gt=0, description="Applier leases and write fencing expire after this long."
    )
    heartbeat_seconds: float = Field(
        2.0, gt=0, description="How often a replica renews its heartbeat and leases."
    )
    pool_size: int = Field(8, ge=1, le=200, description="Connections to PostgreSQL per replica.")


class Config(_Section):
    """The whole configuration of one proxy."""

    listen: ListenConfig = Field(default_factory=ListenConfig)  # type: ignore[arg-type]
    source: SourceConfig = Field(default_factory=SourceConfig)  # type: ignore[arg-type]
    target: TargetConfig = Field(default_factory=TargetConfig)  # type: ignore[arg-type]
    upstream: UpstreamConfig = Field(default_factory=UpstreamConfig)  # type: ignore[arg-type]
    limits: LimitsConfig = Field(default_factory=LimitsConfig)  # type: ignore[arg-type]
    journal: JournalConfig = Field(default_factory=JournalConfig)  # type: ignore[arg-type]
    applier: ApplierConfig = Field(default_factory=ApplierConfig)  # type: ignore[arg-type]
    migration: MigrationConfig = Field(default_factory=MigrationConfig)  # type: ignore[arg-type]
    shadow: ShadowConfig = Field(default_factory=ShadowConfig)  # type: ignore[arg-type]
    canary: CanaryConfig = Field(default_factory=CanaryConfig)  # type: ignore[arg-type]
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)  # type: ignore[arg-type]
    admin: AdminConfig = Field(default_factory=AdminConfig)  # type: ignore[arg-type]
    faults: FaultsConfig = Field(default_factory=FaultsConfig)  # type: ignore[arg-type]
    validation: ValidationConfig = Field(default_factory=ValidationConfig)  # type: ignore[arg-type]
    guard: GuardConfig = Field(default_factory=GuardConfig)  # type: ignore[arg-type]
    webhooks: WebhooksConfig = Field(default_factory=WebhooksConfig)  # type: ignore[arg-type]
    reload: ReloadConfig = Field(default_factory=ReloadConfig)  # type: ignore[arg-type]
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)  # type: ignore[arg-type]


_PATH_FIELDS = (
    ("source", "embedded", "path"),
    ("target", "path"),
    ("journal", "path"),
    ("migration", "state_path"),
    ("shadow", "mismatch_log"),
)


def default_config_text() -> str:
    """The commented default config shipped inside the package (same as config.yaml)."""
    return resources.files("proxy").joinpath("default_config.yaml").read_text()


def load_config(path: Path | None, environ: Mapping[str, str] | None = None) -> Config:
    """Load, override from the environment, validate and resolve paths."""
    base_dir = Path.cwd()
    if path is None:
        raw: Any = yaml.safe_load(default_config_text())
    else:
        try:
            raw = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"config {path} is not valid YAML: {exc}") from exc
        base_dir = path.resolve().parent
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("config must be a mapping at the top level")
    _apply_env(raw, os.environ if environ is None else environ)
    config = parse_config(raw)
    return _resolve_paths(config, base_dir)


def parse_config(raw: Mapping[str, Any]) -> Config:
    """Validate a raw mapping into a Config, with key paths in the error."""
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(part) for part in err["loc"]) or "<root>"
            problems.append(f"{where}: {err['msg']}")
        raise ConfigError("invalid config: " + "; ".join(problems)) from None


def _apply_env(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not parts:
            continue
        node = raw
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"env {name}: {'.'.join(parts)} is not a section")
            node = child
        # Secrets stay strings even when they look like numbers or booleans.
        as_string = parts[-1] in ("api_key", "token", "url", "path", "host")
        node[parts[-1]] = value if as_string else (yaml.safe_load(value) if value else None)


def _resolve_paths(config: Config, base_dir: Path) -> Config:
    data = config.model_dump()
    for field_path in _PATH_FIELDS:
        node = data
        for part in field_path[:-1]:
            node = node[part]
        value = node[field_path[-1]]
        if value is not None and str(value) != ":memory:" and not Path(value).is_absolute():
            node[field_path[-1]] = base_dir / value
    if config.target.api_key is not None:
        data["target"]["api_key"] = config.target.api_key
    if config.admin.token is not None:
        data["admin"]["token"] = config.admin.token
    return Config.model_validate(data)
