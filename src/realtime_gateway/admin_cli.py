"""`realtime-gateway admin ...`: the admin API from the command line, against a running
gateway's admin listener (`--url`, `--token` or `GATEWAY_ADMIN_TOKEN`). Answers are printed as
JSON (usage as CSV with `--csv`); a refusal prints its `error_code` and message on stderr and
exits 1. Standard library only, so a core install has it."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8081"


class AdminError(Exception):
    pass


def call(
    args: argparse.Namespace, method: str, path: str, body: Any = None, *, raw: bool = False
) -> Any:
    token = args.token or os.environ.get("GATEWAY_ADMIN_TOKEN")
    if not token:
        raise AdminError("no admin token: pass --token or set GATEWAY_ADMIN_TOKEN")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        args.url.rstrip("/") + path,
        data=data,
        method=method,
        headers={
            "Authorization": f"Bearer {token}",
            **({"Content-Type": "application/json"} if data is not None else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as answer:  # noqa: S310
            text = answer.read().decode()
    except urllib.error.HTTPError as error:
        try:
            refusal = json.loads(error.read().decode())
            message = f"{refusal['error_code']}: {refusal['message']}"
        except (ValueError, KeyError):
            message = f"HTTP {error.code}"
        raise AdminError(message) from None
    except (urllib.error.URLError, OSError) as error:
        raise AdminError(f"cannot reach {args.url}: {getattr(error, 'reason', error)}") from None
    return text if raw else json.loads(text)


def _policy(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        policy = json.loads(text)
    except ValueError:
        raise AdminError("--policy is not JSON") from None
    if not isinstance(policy, dict):
        raise AdminError("--policy must be a JSON object")
    return policy


def _need(value: str | None, what: str) -> str:
    if not value:
        raise AdminError(f"this action needs {what}")
    return value


def tenants(args: argparse.Namespace) -> Any:
    name = args.name
    if args.action == "list":
        return call(args, "GET", "/admin/v1/tenants")
    path = "/admin/v1/tenants/" + urllib.parse.quote(_need(name, "a tenant NAME"))
    if args.action == "create":
        return call(
            args, "POST", "/admin/v1/tenants", {"name": name, "policy": _policy(args.policy)}
        )
    if args.action == "show":
        return call(args, "GET", path)
    if args.action == "set":
        return call(args, "PATCH", path, {"policy": _policy(args.policy)})
    if args.action == "enable":
        return call(args, "PATCH", path, {"disabled": False})
    return call(args, "DELETE", path)  # disable


def keys(args: argparse.Namespace) -> Any:
    path = "/admin/v1/tenants/" + urllib.parse.quote(args.tenant) + "/keys"
    if args.action == "list":
        return call(args, "GET", path)
    if args.action == "issue":
        return call(args, "POST", path)
    return call(args, "DELETE", path + "/" + urllib.parse.quote(_need(args.id, "a key ID")))


def calls(args: argparse.Namespace) -> Any:
    if args.action == "list":
        return call(args, "GET", "/admin/v1/calls")
    call_id = urllib.parse.quote(_need(args.id, "a call ID"))
    return call(args, "DELETE", f"/admin/v1/calls/{call_id}")


def usage(args: argparse.Namespace) -> Any:
    query = {"format": "csv" if args.csv else "json"}
    for name in ("from_day", "to_day", "tenant"):
        value = getattr(args, name)
        if value:
            query[{"from_day": "from", "to_day": "to"}.get(name, name)] = value
    path = "/admin/v1/usage?" + urllib.parse.urlencode(query)
    return call(args, "GET", path, raw=args.csv)


def webhooks(args: argparse.Namespace) -> Any:
    if args.action == "list":
        return call(args, "GET", "/admin/v1/webhooks")
    event_id = urllib.parse.quote(_need(args.id, "an event ID"))
    return call(args, "POST", f"/admin/v1/webhooks/{event_id}/retry")


def add_arguments(admin: argparse.ArgumentParser) -> None:
    admin.add_argument(
        "--url", default=DEFAULT_URL, help="the admin listener (default %(default)s)"
    )
    admin.add_argument("--token", default=None, help="the admin token (or GATEWAY_ADMIN_TOKEN)")
    admin.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    what = admin.add_subparsers(dest="admin_command", required=True, metavar="WHAT")
    t = what.add_parser("tenants", help="list, create, show, set, disable or enable tenants")
    t.add_argument(
        "action",
        nargs="?",
        default="list",
        choices=["list", "create", "show", "set", "disable", "enable"],
    )
    t.add_argument("name", nargs="?", help="the tenant")
    t.add_argument(
        "--policy", default=None, help="policy fields as JSON, e.g. '{\"max_call_seconds\": 60}'"
    )
    t.set_defaults(admin_handler=tenants)
    k = what.add_parser("keys", help="list, issue or revoke a tenant's keys")
    k.add_argument("action", choices=["list", "issue", "revoke"])
    k.add_argument("tenant", help="the tenant")
    k.add_argument("id", nargs="?", help="the key id (revoke)")
    k.set_defaults(admin_handler=keys)
    c = what.add_parser("calls", help="every tenant's live calls, or hang one up")
    c.add_argument("action", nargs="?", default="list", choices=["list", "hangup"])
    c.add_argument("id", nargs="?", help="the call id (hangup)")
    c.set_defaults(admin_handler=calls)
    u = what.add_parser("usage", help="the ledger over UTC days")
    u.add_argument("--from", dest="from_day", default=None, help="first UTC day, YYYY-MM-DD")
    u.add_argument("--to", dest="to_day", default=None, help="last UTC day, YYYY-MM-DD")
    u.add_argument("--tenant", default=None, help="one tenant (default: all)")
    u.add_argument("--csv", action="store_true", help="CSV instead of JSON")
    u.set_defaults(admin_handler=usage)
    w = what.add_parser("webhooks", help="usage webhook failures, or queue one again")
    w.add_argument("action", nargs="?", default="list", choices=["list", "retry"])
    w.add_argument("id", nargs="?", help="the event id (retry)")
    w.set_defaults(admin_handler=webhooks)


def run_admin(args: argparse.Namespace) -> int:
    try:
        answer = args.admin_handler(args)
    except AdminError as error:
        print(f"realtime-gateway admin: {error}", file=sys.stderr)
        return 1
    if isinstance(answer, str):
        sys.stdout.write(answer)
    else:
        print(json.dumps(answer, indent=2))
    return 0
