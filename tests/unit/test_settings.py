"""Settings: code defaults < TOML file < environment, and refusals of unsafe configurations."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from pydantic import ValidationError

from realtime_gateway.gateway.settings import ConfigError, Settings, load_settings, parse_rate


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The environment is an input here, not code under test: start each test from none of ours.
    import os

    for name in list(os.environ):
        if name.startswith("GATEWAY_") or name == "OPENAI_API_KEY":
            monkeypatch.delenv(name)


def test_defaults_match_the_design() -> None:
    settings = load_settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.rate_limit == "3/minute"
    assert settings.secret_ttl == 60
    assert settings.provider_timeout == 10
    assert settings.limiter_failure_mode == "local"
    assert settings.provider_endpoint == "https://api.openai.com/v1/realtime/client_secrets"
    assert "https://api.openai.com/v1/realtime/sessions" in settings.allowed_endpoints


def test_environment_overrides_file_which_overrides_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('port = 9000\nrate_limit = "5/minute"\nallowed_models = ["m1", "m2"]\n')
    monkeypatch.setenv("GATEWAY_PORT", "9100")
    settings = load_settings(config)
    assert settings.port == 9100  # environment beats the file
    assert settings.rate_limit == "5/minute"  # the file beats the default
    assert settings.allowed_models == ["m1", "m2"]


def test_config_file_can_come_from_gateway_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text("secret_ttl = 30\n")
    monkeypatch.setenv("GATEWAY_CONFIG", str(config))
    assert load_settings().secret_ttl == 30


def test_comma_separated_lists_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_API_KEYS", "acme:k1, globex:sha256:" + "a" * 64)
    monkeypatch.setenv("GATEWAY_TENANT_RATE_LIMITS", "acme=10/minute,globex=1/second")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-provider")
    settings = load_settings()
    assert [key.get_secret_value() for key in settings.api_keys] == [
        "acme:k1",
        "globex:sha256:" + "a" * 64,
    ]
    assert settings.tenant_rates() == {"acme": (10, 60), "globex": (1, 1)}
    assert settings.openai_api_key is not None
    assert "sk-provider" not in repr(settings)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3/minute", (3, 60)),
        ("10/second", (10, 1)),
        ("2/5minutes", (2, 300)),
        ("1/day", (1, 86400)),
    ],
)
def test_rates_parse(text: str, expected: tuple[int, int]) -> None:
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["3", "0/minute", "three/minute", "3/fortnight", ""])
def test_bad_rate_is_refused_with_its_name(text: str) -> None:
    with pytest.raises(ValidationError, match="rate"):
        load_settings(rate_limit=text)


def test_refuses_to_serve_without_tenant_credentials() -> None:
    with pytest.raises(ConfigError, match="no tenant credential"):
        load_settings(openai_api_key="sk-x").validate_for_serving()


def test_refuses_plain_http_to_a_remote_host() -> None:
    settings = load_settings(
        api_keys=["acme:k"],
        openai_api_key="sk-x",
        allowed_endpoints=["http://provider.example/v1/realtime/client_secrets"],
    )
    with pytest.raises(ConfigError, match="plain http"):
        settings.validate_for_serving()


def test_refuses_remote_endpoint_without_provider_key() -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        load_settings(api_keys=["acme:k"]).validate_for_serving()


def test_local_stub_needs_no_remote_key_and_plain_http_on_loopback_is_fine() -> None:
    local = "http://127.0.0.1:8090/v1/realtime/client_secrets"
    load_settings(
        api_keys=["acme:k"], provider_endpoint=local, allowed_endpoints=[local]
    ).validate_for_serving()


def test_a_named_config_file_that_does_not_exist_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "typo.toml")
    monkeypatch.setenv("GATEWAY_CONFIG", str(tmp_path / "typo.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings()


def test_settings_made_directly_refuse_a_missing_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Settings(config_file=tmp_path / "typo.toml")
    monkeypatch.setenv("GATEWAY_CONFIG", str(tmp_path / "typo.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        Settings()


def test_settings_made_directly_read_their_config_file(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text("secret_ttl = 30\n")
    settings = Settings(config_file=config, port=9001)
    assert (settings.secret_ttl, settings.port, settings.config_file) == (30, 9001, config)


def test_loading_is_reentrant_across_threads(tmp_path: Path) -> None:
    """Threads loading different files at once each get their own: no shared state. The
    interpreter switches threads every microsecond here, so shared state would be caught."""
    files = []
    for n in range(4):
        path = tmp_path / f"gateway-{n}.toml"
        path.write_text(f"secret_ttl = {30 + n}\n")
        files.append(path)
    wrong: list[tuple[int, int]] = []

    def load_many(n: int) -> None:
        for _ in range(150):
            got = load_settings(files[n])
            if got.secret_ttl != 30 + n:
                wrong.append((n, got.secret_ttl))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=load_many, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        sys.setswitchinterval(interval)
    assert wrong == []
