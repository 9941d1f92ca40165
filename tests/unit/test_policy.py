"""The leash's policy: defaults of DESIGN.md section 10, per-tenant overrides from the
environment (JSON) and from `[tenants.NAME]` TOML tables, refusals of bad values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from realtime_gateway.gateway.policy import TenantPolicy, policies_from
from realtime_gateway.gateway.settings import load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("GATEWAY_") or name == "OPENAI_API_KEY":
            monkeypatch.delenv(name)


def test_defaults_are_900_seconds_5_calls_and_no_budget() -> None:
    policy = policies_from(load_settings()).for_tenant("anyone")
    assert policy.max_call_seconds == 900
    assert policy.max_concurrent_calls == 5
    assert policy.daily_audio_seconds is None
    assert policy.instructions is None


def test_environment_defaults_apply_to_every_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_MAX_CALL_SECONDS", "120")
    monkeypatch.setenv("GATEWAY_MAX_CONCURRENT_CALLS", "2")
    monkeypatch.setenv("GATEWAY_DAILY_AUDIO_SECONDS", "3600")
    policy = policies_from(load_settings()).for_tenant("acme")
    assert (policy.max_call_seconds, policy.max_concurrent_calls) == (120, 2)
    assert policy.daily_audio_seconds == 3600


def test_toml_tables_and_environment_json_merge_per_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        "max_concurrent_calls = 7\n"
        "[tenants.acme]\n"
        "max_call_seconds = 60\n"
        "daily_audio_seconds = 300\n"
        'instructions = "Answer in one sentence."\n'
        "[tenants.acme.data_channel]\n"
        'allowed_client_events = ["session.update"]\n'
        'allowed_server_events = "all"\n'
    )
    monkeypatch.setenv(
        "GATEWAY_TENANT_POLICIES",
        '{"acme": {"max_call_seconds": 30}, "globex": {"max_concurrent_calls": 1}}',
    )
    policies = policies_from(load_settings(config))
    acme = policies.for_tenant("acme")
    assert acme.max_call_seconds == 30  # the environment beats the file
    assert acme.daily_audio_seconds == 300  # the file's other fields stay
    assert acme.max_concurrent_calls == 7  # the file's default fills the gap
    assert acme.instructions == "Answer in one sentence."
    assert acme.data_channel is not None
    assert acme.data_channel.as_session_config() == {
        "allowed_client_events": ["session.update"],
        "allowed_server_events": "all",
    }
    assert policies.for_tenant("globex").max_concurrent_calls == 1
    assert policies.for_tenant("initech").max_concurrent_calls == 7


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GATEWAY_MAX_CALL_SECONDS", "0"),
        ("GATEWAY_MAX_CONCURRENT_CALLS", "many"),
        ("GATEWAY_DAILY_AUDIO_SECONDS", "-5"),
        ("GATEWAY_TENANT_POLICIES", "{not json"),
        ("GATEWAY_TENANT_POLICIES", '["acme"]'),
        ("GATEWAY_TENANT_POLICIES", '{"acme": {"max_calls": 3}}'),
        ("GATEWAY_TENANT_POLICIES", '{"acme": {"max_call_seconds": 0}}'),
    ],
)
def test_bad_policy_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        load_settings()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("{not json", "not a JSON object of tenant policies"),
        ('{"acme": {"max_concurrent_calls": 0}}', "tenant_policies.acme.max_concurrent_calls"),
    ],
)
def test_serve_refuses_a_bad_policy_in_one_line(value: str, reason: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "realtime_gateway", "serve", "--port", "0"],
        env={
            "PATH": "/usr/bin:/bin",
            "GATEWAY_API_KEYS": "acme:k1",
            "GATEWAY_TENANT_POLICIES": value,
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_a_call_may_be_transferred_only_to_the_tenants_refer_targets() -> None:
    policy = TenantPolicy(refer_targets=("tel:+15551230000", "sip:desk-*", "tel:+1800*"))
    assert policy.may_refer_to("tel:+1 (555) 123-0000")
    assert policy.may_refer_to("SIP:Desk-42@pbx.example")
    assert policy.may_refer_to("tel:+18005550199")
    assert not policy.may_refer_to("tel:+15551230001")
    assert not policy.may_refer_to("tel:+900123")  # premium rate: toll fraud
    assert not policy.may_refer_to("sip:boss@pbx.example")
    assert not TenantPolicy().may_refer_to("tel:+15551230000")  # no targets, no transfers


def test_phone_fields_are_checked_where_policies_are_read() -> None:
    with pytest.raises(ValidationError):
        load_settings(tenant_policies={"acme": {"phone_numbers": ["555-1234"]}})
    with pytest.raises(ValidationError):
        load_settings(tenant_policies={"acme": {"refer_targets": ["+15551234567"]}})
    policy = policies_from(
        load_settings(tenant_policies={"acme": {"phone_numbers": ["+15551230001"]}})
    ).for_tenant("acme")
    assert (policy.phone_numbers, policy.phone_answer, policy.phone_answer_seconds) == (
        ("+15551230001",),
        "policy",
        10,
    )
