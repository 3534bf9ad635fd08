"""Settings: every knob is a `PODML_*` environment variable (or a `.env` line).

Production refuses unsafe values at start-up with a message naming the setting, in the manner of
full-stack-fastapi-template's `core/config.py`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SECRET_KEY = "dev-insecure-change-me"  # noqa: S105 - refused outside development
GIB = 1024**3
# Where a pod finds its own namespace (the platform's, when it runs in a cluster).
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_PLATFORM_NAMESPACE: Final = "podml"
DNS_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
NAMESPACE_NAME: Final = "a namespace name (lower-case letters, digits and '-', at most 63)"
DNS_SUBDOMAIN: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class UnsafeSettingsError(ValueError):
    """A setting that is fine on a laptop but refused in production."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PODML_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Literal["development", "production"] = "development"
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)

    # Where the API listens, and the address that signed URLs (and so jobs and pods) use to reach it.
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""

    # Data: the database and the local storage folder.
    data_dir: Path = Path("data")
    database_url: str = ""
    database_echo: bool = False

    # Auth.
    auth_mode: Literal["local", "cognito"] = "local"
    access_token_expire_minutes: int = Field(default=60, ge=1, le=60 * 24 * 30)
    allow_registration: bool = True
    allow_debug_sub: bool = False
    email_exists_per_minute: int = Field(default=20, ge=1)
    # Where rate-limit counters live: memory (one process) or e.g. async+redis://host:6379 (replicas).
    rate_limit_storage_uri: str = "async+memory://"
    cognito_region: str = "us-east-1"
    cognito_user_pool_id: str = ""
    cognito_client_id: str = ""
    cognito_jwks_url: str = ""
    cognito_endpoint_url: str = ""
    # How the web UI signs in: SRP (the password never leaves the browser; Amplify's default) or
    # USER_PASSWORD_AUTH (the password goes to Cognito over TLS; the app client must allow it).
    cognito_auth_flow: Literal["USER_SRP_AUTH", "USER_PASSWORD_AUTH"] = "USER_SRP_AUTH"
    cognito_admin_group: str = "admin"

    # Storage.
    storage_backend: Literal["local", "s3"] = "local"
    s3_endpoint_url: str = ""
    # The endpoint written into presigned URLs (what a job or pod can reach); defaults to s3_endpoint_url.
    s3_public_endpoint_url: str = ""
    s3_create_bucket: bool = False
    s3_bucket: str = "podml"
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: SecretStr = SecretStr("")
    signed_url_ttl_seconds: int = Field(default=3600, ge=1, le=7 * 24 * 3600)

    # Datasets.
    max_upload_bytes: int = Field(default=GIB, ge=1)

    # Training jobs: where they run, how often the reconciler looks, and the limits it enforces.
    executor: Literal["local", "kubernetes"] = "local"
    run_reconciler: bool = True
    reconcile_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    reconcile_busy_interval_seconds: float = Field(default=0.2, gt=0, le=60)
    max_concurrent_jobs: int = Field(default=4, ge=1)
    max_concurrent_jobs_per_user: int = Field(default=2, ge=1)
    user_cpu_quota: str = "2"
    user_memory_quota: str = "4Gi"
    user_pod_quota: int = Field(default=5, ge=1)
    # PODML_EXECUTOR=kubernetes: the API server (empty: the pod's in-cluster service account; from
    # outside a cluster, `kubectl proxy` and its URL) and the images of jobs and model servers.
    kubernetes_api_url: str = ""
    # Jobs and pods are watched; every this many seconds the watch ends and they are listed afresh.
    kubernetes_resync_seconds: float = Field(default=30.0, ge=1, le=3600)
    # How long one API call may take before it is retried (the client itself sets no limit).
    kubernetes_request_timeout_seconds: float = Field(default=30.0, ge=1, le=600)
    trainer_image: str = "podml-trainer:0.1.0"
    serving_image: str = "kubeserve-base:0.1.0"
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    # The users' namespaces' NetworkPolicies (`podml.kubernetes.namespaces`). Model servers admit
    # the platform's namespace (the gateway; empty: the pod's own namespace in a cluster, else
    # "podml"), and public ones the Ingress controller's namespace too. Pods may reach the object
    # store and (models with requirements) the package index only at these CIDRs and TCP ports.
    kubernetes_platform_namespace: str = ""
    kubernetes_ingress_namespace: str = "ingress-nginx"
    kubernetes_object_store_cidrs: Annotated[tuple[str, ...], NoDecode] = ("0.0.0.0/0",)
    kubernetes_object_store_ports: Annotated[tuple[int, ...], NoDecode] = (443, 9000)
    kubernetes_package_index_cidrs: Annotated[tuple[str, ...], NoDecode] = ("0.0.0.0/0",)
    kubernetes_package_index_ports: Annotated[tuple[int, ...], NoDecode] = (443,)
    # Public deployments' Ingress (a direct route to the model server): its class and host (empty:
    # any host; set the platform's own host so that the route takes its predictions).
    kubernetes_ingress_class: str = "nginx"
    kubernetes_ingress_host: str = ""
    max_job_cpu: str = "2"
    max_job_memory: str = "4Gi"
    max_job_timeout_seconds: int = Field(default=24 * 3600, ge=1)

    # Model versions: building (loading an upload, installing its requirements, compiling ONNX).
    max_concurrent_builds: int = Field(default=2, ge=1)
    build_memory_limit: str = "2Gi"
    build_timeout_seconds: int = Field(default=1800, ge=10)
    # Extra pip arguments for installing a model's requirements, e.g. "--index-url https://mirror/simple".
    requirements_pip_args: str = ""

    # Deployments: model-server replicas behind the gateway, and the limits each user gets.
    max_replicas_per_user: int = Field(default=8, ge=1)
    max_replicas_per_deployment: int = Field(default=8, ge=1)
    max_replica_cpu: str = "2"
    max_replica_memory: str = "4Gi"
    # In-flight requests per replica the autoscaler aims for, and how long demand must stay low
    # before it removes a replica.
    autoscale_target_concurrency: float = Field(default=4.0, gt=0)
    scale_down_delay_seconds: float = Field(default=60.0, ge=0)
    # How long the gateway waits for a replica's answer, and how long traffic figures are kept.
    gateway_timeout_seconds: float = Field(default=60.0, gt=0)
    stats_retention_days: int = Field(default=7, ge=1)
    # One access-log line per prediction call costs as much as the call's routing: off by default
    # (the gateway counts every call in its stats); the rest of the API is always logged.
    access_log_predictions: bool = False

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The web UI's static export (`make run` builds it into web/out of the checkout).
    web_dir: Path = Path(__file__).resolve().parents[2] / "web" / "out"

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                import json

                return json.loads(value)
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("kubernetes_object_store_cidrs", "kubernetes_package_index_cidrs", mode="before")
    @classmethod
    def _split_cidrs(cls, value: object) -> object:
        return _items(value)

    @field_validator("kubernetes_object_store_cidrs", "kubernetes_package_index_cidrs")
    @classmethod
    def _check_cidrs(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        name = _variable(info)
        if not value:
            raise ValueError(f"{name} is empty; name at least one CIDR (0.0.0.0/0 for any address)")
        cidrs = []
        for item in value:
            if "/" not in item:
                raise ValueError(f"{name}: {item!r} is not a CIDR (e.g. 10.0.0.0/8 or 203.0.113.7/32)")
            try:
                cidrs.append(str(ipaddress.ip_network(item, strict=True)))
            except ValueError as exc:
                raise ValueError(f"{name}: {item!r} is not a CIDR ({exc})") from None
        return tuple(cidrs)

    @field_validator("kubernetes_object_store_ports", "kubernetes_package_index_ports", mode="before")
    @classmethod
    def _parse_ports(cls, value: object, info: ValidationInfo) -> object:
        name = _variable(info)
        value = _items(value)
        if not isinstance(value, tuple):
            return value
        ports = []
        for item in value:
            text = str(item).strip()
            if isinstance(item, bool) or not text.isdigit() or not 1 <= int(text) <= 65535:
                raise ValueError(f"{name}: {item!r} is not a TCP port (1 to 65535)")
            ports.append(int(text))
        if not ports:
            raise ValueError(f"{name} is empty; name at least one TCP port")
        return tuple(ports)

    @field_validator("kubernetes_ingress_namespace")
    @classmethod
    def _check_namespace(cls, value: str, info: ValidationInfo) -> str:
        return _dns_name(value, _variable(info), DNS_LABEL, 63, NAMESPACE_NAME)

    @field_validator("kubernetes_ingress_class")
    @classmethod
    def _check_ingress_class(cls, value: str, info: ValidationInfo) -> str:
        return _dns_name(
            value,
            _variable(info),
            DNS_SUBDOMAIN,
            253,
            "an IngressClass name (lower-case letters, digits, '-' and '.')",
        )

    @field_validator("kubernetes_ingress_host")
    @classmethod
    def _check_ingress_host(cls, value: str, info: ValidationInfo) -> str:
        host = value.removeprefix("*.")  # a wildcard host is one
        if value and (len(value) > 253 or not DNS_SUBDOMAIN.match(host)):
            raise ValueError(
                f"{_variable(info)}: {value!r} is not a host name (lower case, no scheme or port)"
            )
        return value

    @model_validator(mode="after")
    def _derive_and_refuse(self) -> Settings:
        if not self.kubernetes_platform_namespace:
            self.kubernetes_platform_namespace = _own_namespace()
        _dns_name(
            self.kubernetes_platform_namespace,
            "PODML_KUBERNETES_PLATFORM_NAMESPACE",
            DNS_LABEL,
            63,
            NAMESPACE_NAME,
        )
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{(self.data_dir / 'podml.db').as_posix()}"
        if not self.public_url:
            self.public_url = f"http://{self.host}:{self.port}"
        self.public_url = self.public_url.rstrip("/")
        if self.auth_mode == "cognito" and not (self.cognito_user_pool_id and self.cognito_client_id):
            raise UnsafeSettingsError(
                "PODML_AUTH_MODE=cognito needs PODML_COGNITO_USER_POOL_ID and PODML_COGNITO_CLIENT_ID"
            )
        if self.env == "production":
            problems = []
            if self.secret_key.get_secret_value() == DEFAULT_SECRET_KEY:
                problems.append("PODML_SECRET_KEY is the development default; set a long random value")
            elif len(self.secret_key.get_secret_value()) < 32:
                problems.append("PODML_SECRET_KEY must be at least 32 characters in production")
            if self.allow_debug_sub:
                problems.append("PODML_ALLOW_DEBUG_SUB=true lets anyone pick a user; it is refused")
            if problems:
                raise UnsafeSettingsError("unsafe production settings: " + "; ".join(problems))
        return self

    def ensure_secret_key(self) -> None:
        """In development, replace the well-known default with a random key kept in the data folder.

        Tokens and signed URLs then survive restarts, and a laptop instance that is reached from
        the network does not accept tokens forged with the published default. Production never gets
        here with the default: the validator above refuses it.
        """
        if self.secret_key.get_secret_value() != DEFAULT_SECRET_KEY:
            return
        path = self.data_dir / ".secret_key"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
        self.secret_key = SecretStr(path.read_text().strip())

    @property
    def cognito_issuer(self) -> str:
        return f"https://cognito-idp.{self.cognito_region}.amazonaws.com/{self.cognito_user_pool_id}"

    @property
    def resolved_jwks_url(self) -> str:
        return self.cognito_jwks_url or f"{self.cognito_issuer}/.well-known/jwks.json"

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "objects"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    @property
    def executions_dir(self) -> Path:
        return self.data_dir / "executions"

    @property
    def environments_dir(self) -> Path:
        """Per-requirements virtual environments, shared by builds and model servers on this machine."""
        return self.data_dir / "environments"


def _items(value: object) -> object:
    """A comma-separated list (a variable's form) or a sequence, as a tuple of stripped items."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    if isinstance(value, list | tuple):
        return tuple(value)
    return value


def _variable(info: ValidationInfo) -> str:
    return f"PODML_{(info.field_name or '').upper()}"


def _dns_name(value: str, variable: str, pattern: re.Pattern[str], longest: int, what: str) -> str:
    if len(value) > longest or not pattern.match(value):
        raise ValueError(f"{variable}: {value!r} is not {what}")
    return value


def _own_namespace() -> str:
    """The namespace this pod runs in (its service account's), else the chart's usual one."""
    try:
        found = SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    except OSError:
        found = ""
    return found or DEFAULT_PLATFORM_NAMESPACE


@lru_cache
def get_settings() -> Settings:
    return Settings()
