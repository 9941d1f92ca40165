"""One turn of OpenAI's Agents SDK for Python (`openai-agents`) with its `url` pointed at the
gateway: `RealtimeRunner` opens the Realtime WebSocket there with the tenant key, sends a user
message, and waits for the agent's turn to end. Run in a venv of its own (the SDK pins a
websockets older than the project's); prints one JSON line. GATEWAY_WS_URL, TENANT_KEY."""

from __future__ import annotations

import asyncio
import json
import os

from agents.realtime import RealtimeAgent, RealtimeRunner


async def main() -> None:
    agent = RealtimeAgent(name="Assistant", instructions="Answer in one short sentence.")
    runner = RealtimeRunner(agent)
    seen: list[str] = []
    session = await runner.run(
        model_config={"api_key": os.environ["TENANT_KEY"], "url": os.environ["GATEWAY_WS_URL"]}
    )
    async with session:
        await session.send_message("Say hello.")
        async with asyncio.timeout(30):
            async for event in session:
                seen.append(event.type)
                if event.type == "raw_model_event" and event.data.type == "raw_server_event":
                    raw = event.data.data
                    seen.append("server:" + str(raw.get("type")))
                if event.type == "agent_end":
                    break
    print(json.dumps({"ok": "agent_end" in seen, "seen": seen}))


if __name__ == "__main__":
    asyncio.run(main())
