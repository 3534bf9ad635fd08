"""Settings: defaults for one machine, and what production refuses at start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from podml.config import DEFAULT_SECRET_KEY, Settings

STRONG = "x" * 48


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_embedded_defaults() -> None:
    s = settings()
    assert s.env == "development"
    assert s.database_url.startswith("sqlite+aiosqlite:///")
    assert s.storage_backend == "local"
    assert s.auth_mode == "local"
    assert s.public_url == "http://127.0.0.1:8000"
    assert s.max_upload_bytes == 1024**3
    assert s.allow_debug_sub is False


def test_env_vars_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODML_CORS_ORIGINS", "http://a.example, http://b.example")
    monkeypatch.setenv("PODML_MAX_UPLOAD_BYTES", "1234")
    monkeypatch.setenv("PODML_DATABASE_URL", "postgresql+asyncpg://u@db/podml")
    s = settings()
    assert s.cors_origins == ["http://a.example", "http://b.example"]
    assert s.max_upload_bytes == 1234
    assert s.database_url == "postgresql+asyncpg://u@db/podml"


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ValidationError, match="PODML_SECRET_KEY is the development default"):
        settings(env="production")
    with pytest.raises(ValidationError, match="at least 32 characters"):
        settings(env="production", secret_key="short")


def test_production_refuses_debug_sub() -> None:
    with pytest.raises(ValidationError, match="PODML_ALLOW_DEBUG_SUB"):
        settings(env="production", secret_key=STRONG, allow_debug_sub=True)
    assert settings(env="production", secret_key=STRONG).env == "production"
    assert settings(allow_debug_sub=True, secret_key=DEFAULT_SECRET_KEY).allow_debug_sub


def test_cognito_mode_needs_pool_and_client() -> None:
    with pytest.raises(ValidationError, match="PODML_COGNITO_USER_POOL_ID"):
        settings(auth_mode="cognito")
    s = settings(
        auth_mode="cognito",
        cognito_user_pool_id="eu-west-1_abc",
        cognito_client_id="c",
        cognito_region="eu-west-1",
    )
    assert s.cognito_issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc"
    assert s.resolved_jwks_url == s.cognito_issuer + "/.well-known/jwks.json"


def test_serve_refuses_unsafe_production_settings_with_a_clear_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "podml", "serve"],
        env={"PODML_ENV": "production", "PODML_ALLOW_DEBUG_SUB": "true", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(tmp_path),
        check=False,
    )
    assert result.returncode != 0
    assert "PODML_SECRET_KEY is the development default" in result.stderr
    assert "PODML_ALLOW_DEBUG_SUB=true" in result.stderr


def test_development_default_secret_becomes_a_private_random_key(tmp_path: Path) -> None:
    first = settings(data_dir=tmp_path)
    first.ensure_secret_key()
    key = first.secret_key.get_secret_value()
    assert key != DEFAULT_SECRET_KEY
    assert len(key) >= 32
    assert (tmp_path / ".secret_key").stat().st_mode & 0o777 == 0o600
    again = settings(data_dir=tmp_path)
    again.ensure_secret_key()
    assert again.secret_key.get_secret_value() == key  # tokens survive a restart
    explicit = settings(data_dir=tmp_path / "other", secret_key=STRONG)
    explicit.ensure_secret_key()
    assert explicit.secret_key.get_secret_value() == STRONG


# --- Kubernetes: the users' NetworkPolicies and the public deployments' Ingress ------------------


def test_the_platform_namespace_is_the_pods_own_else_podml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import podml.config

    monkeypatch.setattr(podml.config, "SERVICE_ACCOUNT_NAMESPACE", tmp_path / "absent")
    assert settings().kubernetes_platform_namespace == "podml"  # outside a cluster
    mounted = tmp_path / "namespace"
    mounted.write_text("ml-platform\n")
    monkeypatch.setattr(podml.config, "SERVICE_ACCOUNT_NAMESPACE", mounted)
    assert settings().kubernetes_platform_namespace == "ml-platform"  # in a cluster
    monkeypatch.setenv("PODML_KUBERNETES_PLATFORM_NAMESPACE", "chosen")
    assert settings().kubernetes_platform_namespace == "chosen"  # the setting wins
    mounted.write_text("Not_A_Namespace")
    monkeypatch.delenv("PODML_KUBERNETES_PLATFORM_NAMESPACE")
    with pytest.raises(ValidationError, match="PODML_KUBERNETES_PLATFORM_NAMESPACE: 'Not_A_Namespace'"):
        settings()


def test_network_and_ingress_settings_defaults() -> None:
    s = settings()
    assert s.kubernetes_ingress_namespace == "ingress-nginx"
    assert (s.kubernetes_ingress_class, s.kubernetes_ingress_host) == ("nginx", "")
    assert s.kubernetes_object_store_cidrs == s.kubernetes_package_index_cidrs == ("0.0.0.0/0",)
    assert (s.kubernetes_object_store_ports, s.kubernetes_package_index_ports) == ((443, 9000), (443,))


def test_network_settings_are_comma_separated_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODML_KUBERNETES_OBJECT_STORE_CIDRS", " 10.20.0.0/16, 203.0.113.7/32,fd00::/8 ")
    monkeypatch.setenv("PODML_KUBERNETES_OBJECT_STORE_PORTS", "9000")
    monkeypatch.setenv("PODML_KUBERNETES_PACKAGE_INDEX_CIDRS", "198.51.100.0/24")
    monkeypatch.setenv("PODML_KUBERNETES_PACKAGE_INDEX_PORTS", "443, 8443")
    monkeypatch.setenv("PODML_KUBERNETES_INGRESS_NAMESPACE", "traefik")
    monkeypatch.setenv("PODML_KUBERNETES_INGRESS_CLASS", "internal.nginx")
    monkeypatch.setenv("PODML_KUBERNETES_INGRESS_HOST", "podml.example.com")
    s = settings()
    assert s.kubernetes_object_store_cidrs == ("10.20.0.0/16", "203.0.113.7/32", "fd00::/8")
    assert s.kubernetes_object_store_ports == (9000,)
    assert s.kubernetes_package_index_cidrs == ("198.51.100.0/24",)
    assert s.kubernetes_package_index_ports == (443, 8443)
    assert s.kubernetes_ingress_namespace == "traefik"
    assert (s.kubernetes_ingress_class, s.kubernetes_ingress_host) == ("internal.nginx", "podml.example.com")
    assert settings(kubernetes_ingress_host="*.models.example.com").kubernetes_ingress_host.startswith("*.")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("OBJECT_STORE_CIDRS", "10.0.0.1/8", "'10.0.0.1/8' is not a CIDR (10.0.0.1/8 has host bits set)"),
        ("OBJECT_STORE_CIDRS", "10.0.0.0/8,minio.example.com", "'minio.example.com' is not a CIDR"),
        ("OBJECT_STORE_CIDRS", "10.0.0.0/33", "'10.0.0.0/33' is not a CIDR"),
        ("PACKAGE_INDEX_CIDRS", "203.0.113.7", "'203.0.113.7' is not a CIDR (e.g. 10.0.0.0/8"),
        ("PACKAGE_INDEX_CIDRS", " , ", "is empty; name at least one CIDR"),
        ("OBJECT_STORE_PORTS", "443,https", "'https' is not a TCP port (1 to 65535)"),
        ("OBJECT_STORE_PORTS", "0", "'0' is not a TCP port"),
        ("PACKAGE_INDEX_PORTS", "65536", "'65536' is not a TCP port"),
        ("PACKAGE_INDEX_PORTS", "-1", "'-1' is not a TCP port"),
        ("PACKAGE_INDEX_PORTS", "", "is empty; name at least one TCP port"),
        ("PLATFORM_NAMESPACE", "PodML", "'PodML' is not a namespace name"),
        ("INGRESS_NAMESPACE", "ingress_nginx", "'ingress_nginx' is not a namespace name"),
        ("INGRESS_CLASS", "", "'' is not an IngressClass name"),
        ("INGRESS_HOST", "https://podml.example.com", "is not a host name"),
        ("INGRESS_HOST", "podml.example.com:443", "is not a host name"),
    ],
)
def test_bad_network_settings_are_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(f"PODML_KUBERNETES_{variable}", value)
    with pytest.raises(ValidationError) as refused:
        settings()
    assert f"PODML_KUBERNETES_{variable}" in str(refused.value)
    assert message in str(refused.value)


def test_serve_refuses_a_bad_cidr_at_start_up(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "podml", "serve"],
        env={
            "PODML_KUBERNETES_OBJECT_STORE_CIDRS": "10.0.0.0/8,10.1.2.3/16",
            "PODML_KUBERNETES_OBJECT_STORE_PORTS": "443,99999",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(tmp_path),
        check=False,
    )
    assert result.returncode == 2
    assert "configuration error" in result.stderr
    assert "PODML_KUBERNETES_OBJECT_STORE_CIDRS: '10.1.2.3/16' is not a CIDR" in result.stderr
    assert "PODML_KUBERNETES_OBJECT_STORE_PORTS: '99999' is not a TCP port" in result.stderr
