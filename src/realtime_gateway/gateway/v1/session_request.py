"""The session an OpenAI SDK asks for, checked against the gateway's rules before anything is
made: the GA `client_secrets` body, the beta `sessions` body, the `session` part of a call's
multipart offer, and a Live session.

What passes is an `AskedSession`: the model and voice (each within `allowed_models` and
`allowed_voices`), the session fields the provider will be given (only the fields OpenAI
documents for the session; anything else is refused with the field named), and the token
lifetime asked for. The tenant's pins (instructions, Live's data channel) are applied later, by
the provider module that builds the upstream session, so no asked field can undo them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from realtime_gateway.gateway.body import MODEL_PATTERN, VOICE_PATTERN, RequestRules
from realtime_gateway.gateway.calls.record import CallSpec
from realtime_gateway.gateway.errors import InvalidRequest
from realtime_gateway.gateway.providers.live import LIVE_MODEL_PREFIX

DEFAULT_MODEL = "gpt-realtime"  # OpenAI's default when a GA session names none
DEFAULT_VOICE = "alloy"
MIN_TTL, MAX_TTL = 10, 7200  # OpenAI's range for `expires_after.seconds`

# The fields of OpenAI's GA `RealtimeSessionCreateRequest` that reach the provider as asked.
GA_FIELDS = frozenset(
    {
        "audio",
        "include",
        "instructions",
        "max_output_tokens",
        "output_modalities",
        "prompt",
        "tool_choice",
        "tools",
        "tracing",
        "truncation",
    }
)
GA_IDENTITY = frozenset({"type", "model", "object", "id", "expires_at"})
# The beta `POST /realtime/sessions` fields, and where each lands in the GA session.
BETA_FIELDS = frozenset(
    {
        "model",
        "voice",
        "instructions",
        "modalities",
        "tools",
        "tool_choice",
        "input_audio_format",
        "output_audio_format",
        "input_audio_transcription",
        "turn_detection",
        "temperature",
        "max_response_output_tokens",
        "speed",
        "tracing",
        "input_audio_noise_reduction",
        "include",
    }
)
# Live's `MediaSessionConfig` fields that the gateway passes on (`client` is the policy's).
LIVE_FIELDS = frozenset({"audio", "instructions", "input", "safety_identifier", "store"})


@dataclass(frozen=True)
class AskedSession:
    model: str
    voice: str
    fields: dict[str, Any] = field(default_factory=dict)
    ttl: int | None = None  # seconds, from `expires_after`


def parse_json_object(raw: bytes, what: str = "body") -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError) as error:
        raise InvalidRequest(f"the {what} is not valid JSON") from error
    if not isinstance(value, dict):
        raise InvalidRequest(f"the {what} must be a JSON object")
    return value


def client_secret_request(raw: bytes, rules: RequestRules) -> AskedSession:
    """`POST /v1/realtime/client_secrets`: `{expires_after?, session?}`."""
    body = parse_json_object(raw)
    _refuse_unknown(body, {"expires_after", "session"}, "")
    session = body.get("session", {})
    if not isinstance(session, dict):
        raise InvalidRequest("'session' must be an object")
    asked = ga_session(session, rules)
    return AskedSession(asked.model, asked.voice, asked.fields, _ttl(body.get("expires_after")))


def ga_session(
    session: dict[str, Any], rules: RequestRules, *, minted: CallSpec | None = None
) -> AskedSession:
    """A GA session object: `type` realtime, a Realtime model, its voice and fields. With
    `minted` (a call's `session` part over its token's grant), the model may only repeat the
    grant's, and the voice is the grant's unless it names another allowed one."""
    kind = session.get("type", "realtime")
    if kind != "realtime":
        raise InvalidRequest("session.type must be 'realtime' (transcription is not served)")
    _refuse_unknown(session, GA_FIELDS | GA_IDENTITY, "session.")
    model = _model(session.get("model"), rules, minted.model if minted else "")
    if model.startswith(LIVE_MODEL_PREFIX):
        raise InvalidRequest(f"'{model}' is a Live model: create it at /v1/live/sessions")
    fields = {key: value for key, value in session.items() if key in GA_FIELDS}
    asked_voice = _output_voice(fields)
    if asked_voice is None and minted is not None:
        asked_voice = minted.voice
    voice = _voice(asked_voice, rules)
    return AskedSession(model, voice, _without_voice(fields))


def beta_session_request(raw: bytes, rules: RequestRules) -> AskedSession:
    """`POST /v1/realtime/sessions` (the beta shape), mapped onto the GA session."""
    body = parse_json_object(raw)
    _refuse_unknown(body, BETA_FIELDS, "")
    model = _model(body.get("model"), rules)
    if model.startswith(LIVE_MODEL_PREFIX):
        raise InvalidRequest(f"'{model}' is a Live model: create it at /v1/live/sessions")
    voice = _voice(body.get("voice"), rules)
    fields: dict[str, Any] = {
        key: body[key] for key in ("instructions", "tools", "tool_choice", "tracing", "include")
        if key in body
    }  # fmt: skip
    audio_input = {
        ga: body[beta]
        for beta, ga in (
            ("input_audio_transcription", "transcription"),
            ("turn_detection", "turn_detection"),
            ("input_audio_noise_reduction", "noise_reduction"),
        )
        if beta in body
    }
    audio_output = {"speed": body["speed"]} if "speed" in body else {}
    if audio_input or audio_output:
        fields["audio"] = {
            **({"input": audio_input} if audio_input else {}),
            **({"output": audio_output} if audio_output else {}),
        }
    if "modalities" in body and isinstance(body["modalities"], list):
        fields["output_modalities"] = ["audio" if "audio" in body["modalities"] else "text"]
    return AskedSession(model, voice, fields)


def live_session(session: dict[str, Any], rules: RequestRules) -> AskedSession:
    """`POST /v1/live/sessions`' `session`: a Live model, its voice, the passed-on fields."""
    _refuse_unknown(session, LIVE_FIELDS | {"model", "client", "type"}, "session.")
    model = _model(session.get("model"), rules)
    if not model.startswith(LIVE_MODEL_PREFIX):
        raise InvalidRequest(f"'{model}' is not a Live model ({LIVE_MODEL_PREFIX}-...)")
    fields = {key: value for key, value in session.items() if key in LIVE_FIELDS}
    voice = _voice(_output_voice(fields), rules)
    return AskedSession(model, voice, _without_voice(fields))


def _refuse_unknown(body: dict[str, Any], known: frozenset[str] | set[str], prefix: str) -> None:
    unknown = sorted(str(key) for key in body if key not in known)
    if unknown:
        name = "".join(c if c.isprintable() else "?" for c in unknown[0])[:40]
        raise InvalidRequest(f"unknown parameter '{prefix}{name}'")


def _model(value: object, rules: RequestRules, minted: str = "") -> str:
    if value is None:
        value = minted or DEFAULT_MODEL
    if not isinstance(value, str) or not MODEL_PATTERN.fullmatch(value):
        raise InvalidRequest("session.model must be 1..64 characters of A-Z a-z 0-9 . _ -")
    if minted and value != minted:
        raise InvalidRequest(f"session.model must be '{minted}', the model the token is for")
    if rules.allowed_models and value not in rules.allowed_models:
        raise InvalidRequest(f"model '{value}' is not allowed here")
    return value


def _voice(value: object, rules: RequestRules) -> str:
    if value is None:
        allowed = sorted(rules.allowed_voices)
        return DEFAULT_VOICE if not allowed or DEFAULT_VOICE in allowed else allowed[0]
    if not isinstance(value, str) or not VOICE_PATTERN.fullmatch(value):
        raise InvalidRequest("the voice must be 1..32 characters of A-Z a-z 0-9 . _ -")
    if rules.allowed_voices and value not in rules.allowed_voices:
        raise InvalidRequest(f"voice '{value}' is not allowed here")
    return value


def _output_voice(fields: dict[str, Any]) -> object:
    audio = fields.get("audio")
    if audio is None:
        return None
    if not isinstance(audio, dict):
        raise InvalidRequest("session.audio must be an object")
    output = audio.get("output")
    if output is None:
        return None
    if not isinstance(output, dict):
        raise InvalidRequest("session.audio.output must be an object")
    return output.get("voice")


def _without_voice(fields: dict[str, Any]) -> dict[str, Any]:
    """The voice is the spec's own field; the provider module puts it back in place."""
    audio = fields.get("audio")
    if not isinstance(audio, dict) or not isinstance(audio.get("output"), dict):
        return fields
    output = {k: v for k, v in audio["output"].items() if k != "voice"}
    if output:
        trimmed = {**audio, "output": output}
    else:
        trimmed = {k: v for k, v in audio.items() if k != "output"}
    return {**fields, "audio": trimmed}


def _ttl(expires_after: object) -> int | None:
    if expires_after is None:
        return None
    if not isinstance(expires_after, dict):
        raise InvalidRequest("'expires_after' must be an object")
    anchor = expires_after.get("anchor", "created_at")
    if anchor != "created_at":
        raise InvalidRequest("expires_after.anchor must be 'created_at'")
    seconds = expires_after.get("seconds")
    if seconds is None:
        return None
    if (
        not isinstance(seconds, int)
        or isinstance(seconds, bool)
        or not (MIN_TTL <= seconds <= MAX_TTL)
    ):
        raise InvalidRequest(f"expires_after.seconds must be an integer in {MIN_TTL}..{MAX_TTL}")
    return seconds
