"""Two `serve` processes sharing one real redis-server, in brokered mode: a call token minted by
one replica is redeemed by the other, exactly once however many try at the same moment, and
either replica answers for the call it created."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx
from aiortc import RTCConfiguration, RTCPeerConnection

from tests.fixtures.gateway import OTHER_TENANT_KEY, TENANT_KEY
from tests.fixtures.processes import gateway_process
from tests.fixtures.stub import RunningStub, ToneTrack

BODY = {"model": "gpt-realtime", "voice": "verse"}
ACME = {"Authorization": f"Bearer {TENANT_KEY}"}


async def test_token_minted_on_one_replica_is_redeemed_once_across_both(
    stub: RunningStub, redis_url: str, tmp_path: Path
) -> None:
    env = {
        "GATEWAY_API_KEYS": f"acme:{TENANT_KEY},globex:{OTHER_TENANT_KEY}",
        "OPENAI_API_KEY": stub.api_key,
        "GATEWAY_PROVIDER_ENDPOINT": stub.ga_endpoint,
        "GATEWAY_ALLOWED_ENDPOINTS": stub.ga_endpoint,
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_CALL_MODE": "brokered",
        "GATEWAY_RATE_LIMIT": "100/minute",
    }
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.createDataChannel("oai-events")
    pc.addTrack(ToneTrack(0.2))
    await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp
    with contextlib.ExitStack() as stack:
        first, second = (stack.enter_context(gateway_process(tmp_path, env)) for _ in range(2))
        try:
            async with httpx.AsyncClient(timeout=20) as http:
                minted = await http.post(
                    first.base_url + "/realtime_session", json=BODY, headers=ACME
                )
                token = minted.json()["session"]["client_secret"]["value"]
                assert minted.json()["session"]["webrtc_url"] == first.base_url + "/realtime_calls"

                async def redeem(index: int) -> httpx.Response:
                    replica = (first, second)[index % 2]
                    return await http.post(
                        replica.base_url + "/realtime_calls",
                        content=offer,
                        headers={
                            "Authorization": f"Bearer {token}",
                            "Content-Type": "application/sdp",
                        },
                    )

                answers = await asyncio.gather(*(redeem(i) for i in range(20)))
                codes = sorted(answer.status_code for answer in answers)
                assert codes == [201] + [401] * 19
                assert len(stub.state.calls) == 1  # one call created upstream, not two
                [created] = [answer for answer in answers if answer.status_code == 201]
                location = created.headers["location"]
                for replica in (first, second):
                    view = await http.get(replica.base_url + location, headers=ACME)
                    assert view.status_code == 200 and view.json()["status"] == "live"
                    listed = await http.get(replica.base_url + "/realtime_calls", headers=ACME)
                    assert len(listed.json()["calls"]) == 1
                # Ended through the replica that did not create it; both then see it ended.
                ended = await http.delete(second.base_url + location, headers=ACME)
                assert ended.json()["ended_reason"] == "caller_hangup"
                view = await http.get(first.base_url + location, headers=ACME)
                assert view.json()["status"] == "ended"

                # And plainly: minted on the first, redeemed on the second alone.
                minted = await http.post(
                    first.base_url + "/realtime_session", json=BODY, headers=ACME
                )
                token = minted.json()["session"]["client_secret"]["value"]
                crossed = await redeem(1)
                assert crossed.status_code == 201, crossed.text
                assert len(stub.state.calls) == 2
        finally:
            await pc.close()
