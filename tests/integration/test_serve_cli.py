"""`realtime-gateway serve` refuses a bad configuration in one line: exit 2, no trace, no key."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"OPENAI_API_KEY": "sk-x"}, "no tenant credential"),
        (
            {"OPENAI_API_KEY": "sk-x", "GATEWAY_API_KEYS": "acme:k1,no-tenant-sekrit"},
            "GATEWAY_API_KEYS entry 2",
        ),
        (
            {
                "OPENAI_API_KEY": "sk-x",
                "GATEWAY_API_KEYS": "acme:k1",
                "GATEWAY_JWT_PUBLIC_KEY": "not a pem",
            },
            "not a PEM public key",
        ),
        (
            {
                "OPENAI_API_KEY": "sk-x",
                "GATEWAY_API_KEYS": "acme:k1",
                "GATEWAY_ALLOWED_ENDPOINTS": "https://api.openai.com/v1/chat/completions",
            },
            "ends neither in",
        ),
        (
            {
                "OPENAI_API_KEY": "sk-x",
                "GATEWAY_API_KEYS": "acme:k1",
                "GATEWAY_CONFIG": "/nonexistent/gateway.toml",
            },
            "does not exist",
        ),
        (
            {
                "OPENAI_API_KEY": "sk-x",
                "GATEWAY_API_KEYS": "acme:k1",
                "GATEWAY_AUDIT_LOG": "/nonexistent/dir/audit.jsonl",
            },
            "GATEWAY_AUDIT_LOG /nonexistent/dir/audit.jsonl cannot be opened for appending",
        ),
        (
            {"OPENAI_API_KEY": "sk-x", "GATEWAY_API_KEYS": "acme:k1", "GATEWAY_AUDIT_LOG": "/"},
            "GATEWAY_AUDIT_LOG / cannot be opened for appending",
        ),
    ],
)
def test_serve_refuses_a_bad_configuration_in_one_line(env: dict[str, str], reason: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "realtime_gateway", "serve", "--port", "0"],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert "sekrit" not in result.stderr
