"""The admin listener of one `serve` process without Redis (the registry in process): it takes
the admin token only, never a tenant credential; the tenant listener has no admin route and the
admin listener no tenant route; what it issues works at once on the tenant listener."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.fixtures.gateway import TENANT_KEY
from tests.fixtures.processes import gateway_process
from tests.integration.test_control_plane_replicas import ADMIN, ADMIN_TOKEN, admin_url


def test_admin_listener_takes_only_the_admin_token(tmp_path: Path) -> None:
    env = {
        "GATEWAY_API_KEYS": f"acme:{TENANT_KEY}",
        "OPENAI_API_KEY": "sk-test-provider-key-never-shown-000000",
        "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "GATEWAY_ADMIN_PORT": "0",
    }
    with gateway_process(tmp_path, env) as gateway, httpx.Client(timeout=10) as http:
        admin = admin_url(gateway)
        assert admin != gateway.base_url
        tenants = admin + "/admin/v1/tenants"
        for headers in (
            {},
            {"Authorization": f"Bearer {TENANT_KEY}"},
            {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
            {"Authorization": "Basic " + ADMIN_TOKEN},
        ):
            refused = http.get(tenants, headers=headers)
            assert refused.status_code == 401, headers
            assert refused.json()["error_code"] == "unauthorized"
            assert set(refused.json()) == {"error_code", "message"}
        # No admin route on the tenant listener, with either credential; no tenant route here.
        for headers in (ADMIN, {"Authorization": f"Bearer {TENANT_KEY}"}):
            missing = http.get(gateway.base_url + "/admin/v1/tenants", headers=headers)
            assert missing.status_code == 404
            assert missing.json()["error_code"] == "not_found"
        assert http.get(admin + "/usage", headers=ADMIN).status_code == 404
        assert http.get(gateway.base_url + "/usage", headers=ADMIN).status_code == 401

        listed = http.get(tenants, headers=ADMIN).json()["tenants"]
        assert [(t["name"], t["source"], t["read_only"]) for t in listed] == [
            ("acme", "config", True)
        ]
        # A configured tenant is read-only here, and its name is taken.
        assert http.post(tenants, json={"name": "acme"}, headers=ADMIN).status_code == 409
        keys = http.post(tenants + "/acme/keys", headers=ADMIN)
        assert keys.status_code == 400 and keys.json()["error_code"] == "invalid_request"
        bad = http.post(
            tenants, json={"name": "x", "policy": {"max_call_seconds": 0}}, headers=ADMIN
        )
        assert bad.status_code == 400 and "max_call_seconds" in bad.json()["message"]
        unknown = http.post(tenants, json={"name": "x", "colour": "red"}, headers=ADMIN)
        assert unknown.status_code == 400

        created = http.post(
            tenants,
            json={
                "name": "initech",
                "policy": {"phone_webhook_secret": "whsec_c2VjcmV0c2VjcmV0c2VjcmV0"},
            },
            headers=ADMIN,
        )
        assert created.status_code == 201, created.text
        assert "c2VjcmV0" not in created.text  # a secret's presence, never its value
        key = http.post(tenants + "/initech/keys", headers=ADMIN).json()["key"]
        usage = http.get(gateway.base_url + "/usage", headers={"Authorization": f"Bearer {key}"})
        assert usage.status_code == 200 and usage.json()["tenant"] == "initech"
        assert http.get(tenants, headers={"Authorization": f"Bearer {key}"}).status_code == 401
        assert http.delete(tenants + "/initech", headers=ADMIN).status_code == 200
        usage = http.get(gateway.base_url + "/usage", headers={"Authorization": f"Bearer {key}"})
        assert usage.status_code == 401
        page = http.get(admin + "/")
        assert (
            page.status_code == 200
            and "default-src 'self'" in page.headers["content-security-policy"]
        )
    assert key not in gateway.output() and ADMIN_TOKEN not in gateway.output()


def admin_cli(admin: str, *args: str, token: str = ADMIN_TOKEN) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_ADMIN_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "realtime_gateway", "admin", "--url", admin, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_admin_cli_runs_a_tenants_life(tmp_path: Path) -> None:
    env = {
        "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "GATEWAY_ADMIN_PORT": "0",
        "OPENAI_API_KEY": "sk-test-provider-key-never-shown-000000",
    }
    with gateway_process(tmp_path, env) as gateway, httpx.Client(timeout=10) as http:
        admin = admin_url(gateway)
        made = admin_cli(
            admin, "tenants", "create", "initech", "--policy", '{"max_call_seconds": 60}'
        )
        assert made.returncode == 0, made.stderr
        assert json.loads(made.stdout)["effective"]["max_call_seconds"] == 60
        issued = admin_cli(admin, "keys", "issue", "initech")
        assert issued.returncode == 0, issued.stderr
        key, key_id = json.loads(issued.stdout)["key"], json.loads(issued.stdout)["id"]
        bearer = {"Authorization": f"Bearer {key}"}
        assert http.get(gateway.base_url + "/usage", headers=bearer).status_code == 200
        listed = admin_cli(admin, "keys", "list", "initech")
        assert key_id in listed.stdout and key not in listed.stdout
        assert json.loads(admin_cli(admin, "calls").stdout)["calls"] == []
        usage = admin_cli(admin, "usage", "--tenant", "initech", "--csv")
        assert usage.returncode == 0 and usage.stdout.startswith("tenant,day,calls,")
        assert admin_cli(admin, "keys", "revoke", "initech", key_id).returncode == 0
        assert http.get(gateway.base_url + "/usage", headers=bearer).status_code == 401
        refused = admin_cli(admin, "tenants", token="not-the-admin-token-at-all")
        assert refused.returncode == 1 and "unauthorized" in refused.stderr
        unknown = admin_cli(admin, "tenants", "show", "nobody")
        assert unknown.returncode == 1 and "not_found" in unknown.stderr


def test_every_worker_serves_the_admin_listener(tmp_path: Path, redis_url: str) -> None:
    env = {
        "GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN,
        "GATEWAY_ADMIN_PORT": "0",
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_WORKERS": "2",
        "OPENAI_API_KEY": "sk-test-provider-key-never-shown-000000",
    }
    with gateway_process(tmp_path, env) as gateway, httpx.Client(timeout=10) as http:
        admin = admin_url(gateway)
        made = http.post(admin + "/admin/v1/tenants", json={"name": "initech"}, headers=ADMIN)
        assert made.status_code == 201, made.text
        key = http.post(admin + "/admin/v1/tenants/initech/keys", headers=ADMIN).json()["key"]
        # Fresh connections spread over both workers; once the promised second has passed,
        # every one knows the tenant and the key.
        time.sleep(1.0)
        for _ in range(8):
            with httpx.Client(timeout=10) as fresh:
                assert fresh.get(admin + "/admin/v1/tenants/initech", headers=ADMIN).is_success
                answer = fresh.get(
                    gateway.base_url + "/usage", headers={"Authorization": f"Bearer {key}"}
                )
                assert answer.status_code == 200
