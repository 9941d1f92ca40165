"""`realtime-gateway serve | stub | demo | connect | keys | admin`: parses arguments, hands off."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from realtime_gateway.admin_cli import add_arguments as add_admin_arguments
from realtime_gateway.admin_cli import run_admin
from realtime_gateway.extras import missing_extra_message
from realtime_gateway.gateway import keys
from realtime_gateway.gateway.composition import check_serving
from realtime_gateway.gateway.settings import ConfigError, load_settings

# `serve` imports only the gateway; the other subcommands import their room when they run, so
# a core install (no media, no httpx) can serve, and says which extra a subcommand needs.


def _serve(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from realtime_gateway.gateway.app import create_app
    from realtime_gateway.gateway.server import run_gateway

    overrides: dict[str, object] = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    if args.workers is not None:
        overrides["workers"] = args.workers
    try:
        settings = load_settings(args.config, **overrides)
        check_serving(settings)
        app = create_app(settings)  # parses keys and endpoints: its refusals are config errors
    except (ConfigError, ValidationError, OSError) as error:
        print(f"realtime-gateway: configuration error: {_one_line(error)}", file=sys.stderr)
        return 2
    workers = settings.worker_count()
    if workers > 1:
        from realtime_gateway.gateway.workers import serve_workers

        return serve_workers(settings, app, workers)
    return run_gateway(settings, app)


def _one_line(error: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        return f"{where}: {first['msg']}"
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _load(command: str, module: str, function: str) -> Callable[[argparse.Namespace], int] | None:
    """`module.function`, or None after one line on stderr naming the extra to install."""
    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as error:
        message = missing_extra_message(command, error)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return None
    handler: Callable[[argparse.Namespace], int] = getattr(loaded, function)
    return handler


def _stub(args: argparse.Namespace) -> int:
    run_stub = _load("stub", "realtime_gateway.stub.server", "run_stub")
    return 2 if run_stub is None else run_stub(args)


def _demo(args: argparse.Namespace) -> int:
    run_demo = _load("demo", "realtime_gateway.demo", "run_demo")
    return 2 if run_demo is None else run_demo(args)


def _connect(args: argparse.Namespace) -> int:
    run_connect = _load("connect", "realtime_gateway.client.connect", "run_connect")
    return 2 if run_connect is None else run_connect(args)


def _keys_new(args: argparse.Namespace) -> int:
    key = keys.new_key()
    print(f"key:    {key}")
    print(f"config: {args.tenant}:sha256:{keys.sha256_hex(key)}")
    return 0


def _usage(parser: argparse.ArgumentParser) -> int:
    """A command that needs a subcommand and got none: its help on stderr, status 2."""
    print(parser.format_help(), end="", file=sys.stderr)
    return 2


# Each subcommand's --help ends with an example a newcomer can paste (kept verbatim: the raw
# formatter leaves the line breaks alone).
EXAMPLES = {
    "realtime-gateway": """example:
  realtime-gateway demo          # the gateway and the offline stub, no keys needed
  realtime-gateway COMMAND --help""",
    "serve": """example:
  realtime-gateway keys new --tenant acme       # prints the acme:sha256:... line
  OPENAI_API_KEY=sk-... GATEWAY_API_KEYS='acme:sha256:<hex>' realtime-gateway serve --port 8080

every setting is an environment variable (GATEWAY_*) or a key of the --config TOML file""",
    "stub": """example:
  realtime-gateway stub --port 8090 --api-key sk-stub
  # then point a gateway at it:
  OPENAI_API_KEY=sk-stub GATEWAY_API_KEYS=acme:KEY \\
    GATEWAY_PROVIDER_ENDPOINT=http://127.0.0.1:8090/v1/realtime/client_secrets \\
    GATEWAY_ALLOWED_ENDPOINTS=http://127.0.0.1:8090/v1/realtime/client_secrets \\
    realtime-gateway serve""",
    "demo": """example:
  realtime-gateway demo                       # prints the UI's address and the demo tenant key
  realtime-gateway demo --call-mode brokered  # the page never sees a provider secret
  realtime-gateway demo --phone               # a simulated phone call arrives, is cut at 20 s""",
    "connect": """example (with `realtime-gateway demo` running; KEY is the key it prints):
  realtime-gateway connect --gateway http://127.0.0.1:8080 --api-key KEY \\
    --model gpt-realtime --voice verse --prompt "Say hello." --out reply.wav --seconds 5

exit status: 0 success, 1 other failure, 2 invalid_request, 3 unauthorized, 4 rate_limited,
5 provider_error, 6 limiter_unavailable, 7 sdp_refused, 8 ice_timeout, 9 gateway_unreachable,
10 too_many_calls, 11 quota_exceeded, 12 calls_unavailable""",
    "admin": """example (against a gateway serving with GATEWAY_ADMIN_TOKEN set):
  export GATEWAY_ADMIN_TOKEN=...
  realtime-gateway admin tenants create initech --policy '{"max_call_seconds": 300}'
  realtime-gateway admin keys issue initech    # the key is shown once
  realtime-gateway admin calls
  realtime-gateway admin usage --from 2026-11-01 --csv""",
    "keys": """example:
  realtime-gateway keys new --tenant acme""",
    "keys new": """example:
  realtime-gateway keys new --tenant acme
  # key:    the tenant's key (give it to the tenant; it is not stored)
  # config: acme:sha256:<hex> (put it in GATEWAY_API_KEYS)""",
}


def _add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help: str,
    example: str,
) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with its example."""
    return commands.add_parser(
        name,
        help=help,
        description=help[0].upper() + help[1:] + ".",
        epilog=example,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="realtime-gateway",
        description="Mint short-lived realtime voice sessions; the provider key stays here.",
        epilog=EXAMPLES["realtime-gateway"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = _add_command(commands, "serve", "run the gateway", EXAMPLES["serve"])
    serve.add_argument("--host", default=None, help="address to listen on (GATEWAY_HOST)")
    serve.add_argument("--port", type=int, default=None, help="port to listen on (GATEWAY_PORT)")
    serve.add_argument("--config", default=None, help="TOML settings file (GATEWAY_CONFIG)")
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes on the one port (GATEWAY_WORKERS; default: the number of "
        "cores with Redis configured, 1 without)",
    )
    serve.set_defaults(handler=_serve)

    stub = _add_command(commands, "stub", "run the offline provider stub", EXAMPLES["stub"])
    stub.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    stub.add_argument("--port", type=int, default=8090, help="port to listen on (default 8090)")
    stub.add_argument("--api-key", default=None, help="provider key it accepts (OPENAI_API_KEY)")
    stub.add_argument(
        "--loopback-ice",
        action="store_true",
        help="offer 127.0.0.1 as the only ICE candidate (hosts with only loopback)",
    )
    stub.add_argument(
        "--greet",
        action="store_true",
        help="speak a greeting unasked when a call connects (OpenAI waits for response.create)",
    )
    stub.add_argument(
        "--webhook-url",
        default=None,
        help="where phone calls' signed webhooks go (STUB_WEBHOOK_URL); calls are dialled with "
        "POST /_stub/sip/dial",
    )
    stub.add_argument(
        "--webhook-secret",
        default=None,
        help="whsec_ secret that signs them (STUB_WEBHOOK_SECRET; default: a new one, printed)",
    )
    stub.add_argument(
        "--sip-ring-seconds",
        type=float,
        default=30.0,
        help="a phone call not answered by then ends unanswered (default 30)",
    )
    stub.set_defaults(handler=_stub)

    demo = _add_command(
        commands, "demo", "run the stub and the gateway together, offline", EXAMPLES["demo"]
    )
    demo.add_argument(
        "--host", default="127.0.0.1", help="address the gateway listens on (default 127.0.0.1)"
    )
    demo.add_argument("--port", type=int, default=8080, help="gateway port (default 8080)")
    demo.add_argument(
        "--stub-port",
        type=int,
        default=8090,
        help="port of the offline provider stub, on 127.0.0.1 (default 8090)",
    )
    demo.add_argument(
        "--new-key",
        action="store_true",
        help="replace the demo tenant key kept in the state directory with a fresh one",
    )
    demo.add_argument(
        "--loopback-ice",
        action="store_true",
        help="ICE on 127.0.0.1 only (no check leaves loopback; Chromium needs "
        "--allow-loopback-in-peer-connection)",
    )
    demo.add_argument(
        "--call-mode",
        choices=("direct", "brokered"),
        default="direct",
        help="direct: the page gets the provider's secret; brokered: a gateway call token",
    )
    demo.add_argument(
        "--phone",
        action="store_true",
        help="phone calls too: the stub dials the demo tenant's number a few seconds after "
        "start (and every 45 s); the gateway answers by policy and cuts each call at 20 s",
    )
    demo.set_defaults(handler=_demo)

    connect = _add_command(
        commands, "connect", "run the machine flow headless", EXAMPLES["connect"]
    )
    connect.add_argument("--gateway", required=True, help="gateway base URL")
    connect.add_argument("--api-key", required=True, help="tenant key for the gateway")
    connect.add_argument("--model", required=True, help="provider model, e.g. gpt-realtime")
    connect.add_argument("--voice", required=True, help="provider voice, e.g. verse")
    connect.add_argument(
        "--transport",
        choices=("webrtc", "websocket"),
        default="webrtc",
        help="webrtc: mint, then a WebRTC call; websocket: the Realtime WebSocket at "
        "<gateway>/v1/realtime (default webrtc)",
    )
    connect.add_argument(
        "--endpoint", default=None, help="provider endpoint override (webrtc only)"
    )
    connect.add_argument("--out", default="reply.wav", help="where to write received audio")
    connect.add_argument("--seconds", type=float, default=5.0, help="how long to record")
    connect.add_argument("--input", default=None, help="WAV file to send as the microphone")
    connect.add_argument(
        "--prompt",
        default=None,
        help="text to send as the user's message, then ask for a response",
    )
    connect.add_argument(
        "--ice-timeout", type=float, default=10.0, help="seconds to wait for the call to connect"
    )
    connect.add_argument(
        "--loopback-ice", action="store_true", help="offer 127.0.0.1 as the only ICE candidate"
    )
    connect.set_defaults(handler=_connect)

    admin = _add_command(commands, "admin", "the admin API of a running gateway", EXAMPLES["admin"])
    add_admin_arguments(admin)
    admin.set_defaults(handler=run_admin)

    keys_parser = _add_command(commands, "keys", "manage tenant keys", EXAMPLES["keys"])
    keys_commands = keys_parser.add_subparsers(dest="keys_command", metavar="SUBCOMMAND")
    keys_parser.set_defaults(handler=lambda _args: _usage(keys_parser))
    new = _add_command(keys_commands, "new", "make a fresh tenant key", EXAMPLES["keys new"])
    new.add_argument("--tenant", required=True, help="the tenant the key is for")
    new.set_defaults(handler=_keys_new)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
