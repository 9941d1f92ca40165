"""`realtime-gateway connect` as a user runs it: a subprocess against the gateway and the stub."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from realtime_gateway.media.audio import read_wav, rms, write_wav
from tests.fixtures.gateway import wired_to
from tests.integration.provider_proxy import proxied_gateway
from tests.integration.test_stub_realtime_ws import speech_wav

CLI = str(Path(sys.executable).with_name("realtime-gateway"))
SECONDS = 1.5


def run_connect(gateway: Any, out: Path, *extra: str, key: str | None = None) -> Any:
    command = [
        CLI, "connect", "--gateway", gateway.base_url, "--api-key", key or gateway.tenant_key,
        "--model", "gpt-realtime", "--voice", "verse", "--out", str(out),
        "--seconds", str(SECONDS), "--loopback-ice", *extra,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def assert_failed_cleanly(result: Any, status: int, error_code: str, out: Path) -> None:
    assert result.returncode == status, result.stderr
    assert error_code in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not out.exists()


def test_connect_writes_speech_and_prints_events(gateway: Any, tmp_path: Path) -> None:
    out = tmp_path / "reply.wav"
    result = run_connect(gateway, out)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert "session.created" in [event["type"] for event in events]
    rate, samples = read_wav(out)
    assert rate == 48000
    assert abs(samples.size / rate - SECONDS) < 0.1
    assert rms(samples) > 0.02
    summary = result.stderr.strip().splitlines()
    assert len(summary) == 1
    assert "connected in" in summary[0] and "first audio after" in summary[0]
    assert "dBFS" in summary[0]
    output = result.stdout + result.stderr
    assert gateway.tenant_key not in output
    assert "ek_" not in output, "no ephemeral secret (the stub's start with ek_) in any output"


def test_connect_sends_the_input_wav(gateway: Any, stub: Any, tmp_path: Path) -> None:
    say = tmp_path / "say.wav"
    espeak = shutil.which("espeak-ng")
    if espeak:
        subprocess.run([espeak, "-w", str(say), "testing one two three"], check=True, timeout=30)
    else:
        t = np.arange(24000) / 24000
        write_wav(say, 24000, (np.sin(2 * np.pi * 200 * t) * 12000).astype(np.int16))
    result = run_connect(gateway, tmp_path / "reply.wav", "--input", str(say))
    assert result.returncode == 0, result.stderr
    record = stub.state.calls[-1]
    assert record.input_frames_received >= 50
    assert record.input_rms_max > 0.02


def test_bad_key_exits_unauthorized(gateway: Any, stub: Any, tmp_path: Path) -> None:
    out = tmp_path / "reply.wav"
    result = run_connect(gateway, out, key="rtg_not_a_key_0000000000")
    assert_failed_cleanly(result, 3, "unauthorized", out)
    assert "rtg_not_a_key_0000000000" not in result.stderr
    assert stub.state.calls == []


def test_rate_limited_exits_4_with_retry_after(
    gateway_factory: Any, stub: Any, tmp_path: Path
) -> None:
    limited = gateway_factory(**wired_to(stub, rate_limit="1/minute"))
    spent = httpx.post(
        limited.url("/realtime_session"),
        json={"model": "gpt-realtime", "voice": "verse"},
        headers=limited.auth(),
        timeout=10,
    )
    assert spent.status_code == 200
    out = tmp_path / "reply.wav"
    result = run_connect(limited, out)
    assert_failed_cleanly(result, 4, "rate_limited", out)
    assert "retry after" in result.stderr


def test_provider_failure_exits_5(gateway: Any, stub: Any, tmp_path: Path) -> None:
    stub.state.set_fault(status=500)
    out = tmp_path / "reply.wav"
    assert_failed_cleanly(run_connect(gateway, out), 5, "provider_error", out)


def test_sdp_refused_exits_7(stub: Any, gateway_factory: Any, tmp_path: Path) -> None:
    with proxied_gateway(stub, gateway_factory) as proxied:
        proxied.plan.refusals = [403]
        out = tmp_path / "reply.wav"
        result = run_connect(proxied.gateway, out)
    assert_failed_cleanly(result, 7, "sdp_refused", out)
    assert "403" in result.stderr


def test_unreadable_input_exits_1(gateway: Any, tmp_path: Path) -> None:
    out = tmp_path / "reply.wav"
    result = run_connect(gateway, out, "--input", str(tmp_path / "missing.wav"))
    assert_failed_cleanly(result, 1, "input_error", out)


def test_ice_that_cannot_connect_exits_8(stub: Any, gateway_factory: Any, tmp_path: Path) -> None:
    with proxied_gateway(stub, gateway_factory) as proxied:
        proxied.plan.break_candidates = True
        out = tmp_path / "reply.wav"
        result = run_connect(proxied.gateway, out, "--ice-timeout", "1.5")
    assert_failed_cleanly(result, 8, "ice_timeout", out)


def test_prompt_asks_the_provider_for_a_response(gateway: Any, stub: Any, tmp_path: Path) -> None:
    out = tmp_path / "reply.wav"
    result = run_connect(gateway, out, "--prompt", "Say hello")
    assert result.returncode == 0, result.stderr
    assert stub.state.calls[-1].client_events[:2] == ["conversation.item.create", "response.create"]
    types = [json.loads(line)["type"] for line in result.stdout.splitlines()]
    # The answer to the prompt, and nothing spoken unasked.
    assert types.count("response.created") == 1


def run_connect_ws(stub: Any, out: Path, *extra: str, key: str | None = None) -> Any:
    """`connect --transport websocket` straight at the stub: the wire the gateway will relay."""
    command = [
        CLI, "connect", "--transport", "websocket", "--gateway", stub.base_url,
        "--api-key", key or stub.api_key, "--model", "gpt-realtime", "--voice", "verse",
        "--out", str(out), "--seconds", str(SECONDS), *extra,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_websocket_transport_sends_the_input_and_writes_the_spoken_reply(
    stub: Any, tmp_path: Path
) -> None:
    out = tmp_path / "reply.wav"
    result = run_connect_ws(stub, out, "--input", str(speech_wav(tmp_path / "say.wav")))
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    types = [event["type"] for event in events]
    for expected in ("session.created", "session.updated", "input_audio_buffer.committed"):
        assert expected in types
    assert types.index("response.created") < types.index("response.output_audio.delta")
    delta = next(e for e in events if e["type"] == "response.output_audio.delta")
    assert "delta" not in delta and delta["delta_bytes"] > 0  # printed without its audio
    rate, samples = read_wav(out)
    assert rate == 24000  # the wire's own rate
    assert abs(samples.size / rate - SECONDS) < 0.1
    assert rms(samples) > 0.02
    summary = result.stderr.strip().splitlines()
    assert len(summary) == 1
    assert "connected in" in summary[0] and "first audio after" in summary[0]
    assert "dBFS" in summary[0]
    assert stub.api_key not in result.stdout + result.stderr
    record = stub.state.calls[-1]
    assert (record.transport, record.voice) == ("websocket", "verse")
    assert record.client_events[:3] == [
        "session.update",
        "input_audio_buffer.commit",
        "response.create",
    ]
    assert record.input_frames_received >= 50 and record.input_rms_max > 0.02
    # The client's close is echoed before the stub's session has noted it: wait for that.
    deadline = time.monotonic() + 10
    while not record.ended and time.monotonic() < deadline:
        time.sleep(0.02)
    assert record.end_reason == "client_closed"


def test_websocket_transport_with_a_refused_key_exits_unauthorized(
    stub: Any, tmp_path: Path
) -> None:
    out = tmp_path / "reply.wav"
    result = run_connect_ws(stub, out, key="sk-not-the-stub-key-0000")
    assert_failed_cleanly(result, 3, "unauthorized", out)
    assert "HTTP 401" in result.stderr
    assert "sk-not-the-stub-key-0000" not in result.stderr
    assert stub.state.calls == []


def test_websocket_transport_through_the_gateways_relay(
    gateway: Any, stub: Any, tmp_path: Path
) -> None:
    """`connect --transport websocket` at the gateway: the session relayed, the reply spoken,
    the session counted once in the tenant's ledger, and no key in the output."""
    out = tmp_path / "reply.wav"
    command = [
        CLI, "connect", "--transport", "websocket", "--gateway", gateway.base_url,
        "--api-key", gateway.tenant_key, "--model", "gpt-realtime", "--voice", "verse",
        "--out", str(out), "--seconds", str(SECONDS),
        "--input", str(speech_wav(tmp_path / "say.wav")),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    types = [json.loads(line)["type"] for line in result.stdout.splitlines()]
    assert "session.created" in types and "response.output_audio.delta" in types
    rate, samples = read_wav(out)
    assert rate == 24000 and rms(samples) > 0.02
    output = result.stdout + result.stderr
    assert gateway.tenant_key not in output and stub.api_key not in output
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        today = httpx.get(gateway.url("/usage"), headers=gateway.auth()).json()["today"]
        if today["calls"] == 1:
            break
        time.sleep(0.05)
    assert today["by_transport"]["websocket"]["calls"] == 1
