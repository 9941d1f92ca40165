"""An accepted phone call: the stub's own conversation engine (Realtime or Live dialect) on a call
with no WebRTC peer, since a SIP leg's media is OpenAI's side, and the synthetic caller who says
the dial's words into it so the model hears speech, answers, and usage flows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from realtime_gateway.stub.dialect import Dialect
from realtime_gateway.stub.peer import StubCall
from realtime_gateway.stub.sip_ringing import PhoneCall
from realtime_gateway.stub.state import StubState
from realtime_gateway.stub.voice import SpeakingTrack, synthesize

# The caller's voice: a man's espeak-ng variant, unlike the model's default ("alloy", a woman's).
CALLER_VOICE = "echo"
SIDEBAND_POLL = 0.02  # seconds between looks for a sideband, while the caller waits to speak


def start_phone_call(
    state: StubState,
    phone: PhoneCall,
    make_dialect: Callable[[StubCall], Dialect],
    *,
    max_seconds: float,
) -> StubCall:
    """Run the accepted call: live in `state.active` (so hang-up and the sideband find it), its
    line hearing the synthetic caller."""
    config = state.config
    call = StubCall(
        phone.record,
        make_dialect,
        max_seconds=max_seconds,
        use_espeak=config.use_espeak,
        greet=config.greet,
        on_end=state.forget,
        webrtc=False,
    )
    caller = SpeakingTrack()  # the caller's microphone: silence until they speak
    state.active[phone.call_id] = call
    call.run_without_peer(caller)
    if phone.dial.speak:
        speech = _caller_speaks(
            call, caller, phone.dial.speak, config.sip_caller_delay, config.use_espeak
        )
        call.spawn(speech)
    return call


async def _caller_speaks(
    call: StubCall, caller: SpeakingTrack, text: str, delay: float, use_espeak: bool
) -> None:
    """Say `text` once someone listens on a sideband (an app watching the call would miss
    speech said before it attached), or after `delay` seconds without one."""
    samples = await asyncio.to_thread(synthesize, CALLER_VOICE, text, use_espeak=use_espeak)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + delay
    while call.record.sidebands_attached == 0 and loop.time() < deadline:
        await asyncio.sleep(SIDEBAND_POLL)
    caller.say(samples)
