"""A brokered gateway process, through a whole call and its refusals: nothing it logs or audits
carries the provider key, a tenant key, a call token or the provider's call id."""

from __future__ import annotations

from pathlib import Path

import httpx
from aiortc import RTCConfiguration, RTCPeerConnection

from tests.fixtures.gateway import OTHER_TENANT_KEY, TENANT_KEY
from tests.fixtures.processes import gateway_process
from tests.fixtures.stub import RunningStub, ToneTrack

BODY = {"model": "gpt-realtime", "voice": "verse"}


async def test_brokered_secrets_not_logged(
    stub: RunningStub, redis_url: str, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    env = {
        "GATEWAY_API_KEYS": f"acme:{TENANT_KEY},globex:{OTHER_TENANT_KEY}",
        "OPENAI_API_KEY": stub.api_key,
        "GATEWAY_PROVIDER_ENDPOINT": stub.ga_endpoint,
        "GATEWAY_ALLOWED_ENDPOINTS": stub.ga_endpoint,
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_CALL_MODE": "brokered",
        "GATEWAY_RATE_LIMIT": "100/minute",
        "GATEWAY_AUDIT_LOG": str(audit),
    }
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(ToneTrack(0.0))
    pc.createDataChannel("oai-events")
    await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp
    acme = {"Authorization": f"Bearer {TENANT_KEY}"}
    tokens: list[str] = []
    try:
        with gateway_process(tmp_path, env) as gateway:
            async with httpx.AsyncClient(base_url=gateway.base_url, timeout=20) as http:

                async def offer_with(token: str, body: str = offer) -> httpx.Response:
                    headers = {
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/sdp",
                    }
                    return await http.post("/realtime_calls", content=body, headers=headers)

                for _ in range(2):
                    minted = await http.post("/realtime_session", json=BODY, headers=acme)
                    tokens.append(minted.json()["session"]["client_secret"]["value"])
                assert (await offer_with(tokens[0], "not sdp")).status_code == 400
                created = await offer_with(tokens[0])
                assert created.status_code == 201
                assert (await offer_with(tokens[0])).status_code == 401
                assert (await offer_with(tokens[1] + "x")).status_code == 401
                location = created.headers["location"]
                other = {"Authorization": f"Bearer {OTHER_TENANT_KEY}"}
                assert (await http.get(location, headers=other)).status_code == 404
                stub.state.call_faults.set(hangup_fail_once=True)
                assert (await http.delete(location, headers=acme)).status_code == 500
                assert (await http.delete(location, headers=acme)).status_code == 200
    finally:
        await pc.close()
    written = gateway.output() + audit.read_text()
    assert '"outcome"' in written  # the audit said something: the grep is not of nothing
    assert "provider refused the call" in written
    needles = {"provider key": stub.api_key, "acme key": TENANT_KEY, "globex key": OTHER_TENANT_KEY}
    needles.update({f"call token {i}": token for i, token in enumerate(tokens)})
    needles.update({f"token secret {i}": t.split(".")[0][7:] for i, t in enumerate(tokens)})
    needles.update({f"provider call {c.call_id}": c.call_id for c in stub.state.calls})
    assert len(needles) >= 8
    for name, needle in needles.items():
        assert needle not in written, f"{name} is in the gateway's logs"
