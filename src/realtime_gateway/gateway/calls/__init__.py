"""Brokered calls: the call tokens `/realtime_session` mints in brokered mode, and the records of
the calls the gateway created with them, in Redis (shared by replicas) or in process.

    tokens.mint_token(tenant)          -> "rtg_ct_<random>.<tenant>" (192 random bits)
    TokenStore.put(token, grant, ttl)  keep what the token may create
    TokenStore.redeem(token)           -> CallGrant once, then None (atomic)
    CallStore.create(record)           a new live call
    CallStore.get(tenant, call_id)     -> CallRecord | None
    CallStore.list_live(tenant)        the tenant's live calls
    CallStore.end(tenant, call_id, reason, ended_at) -> CallRecord | None (first end wins)
    CallStore.add_usage(tenant, call_id, audio_seconds, tokens)

`build_call_state(settings)` picks the backends. The rest of brokered mode:

    broker      which calls are brokered; mint a token; create, read and end calls
    offer       the caller's SDP offer (raw or the SDK's multipart), checked
    wire        the upstream request per wire (Realtime GA multipart, Live JSON); CallPolicy
    upstream    create and hang up at the provider with the provider key (CallUpstream)
    http        the HTTP client for that (AiohttpCallTransport, the CallTransport seam)
    guard       Redis failures as 503 calls_unavailable
    page        the operator page with the allowed Live models
"""

from __future__ import annotations

from realtime_gateway.gateway.calls.records import (
    ENDED_REASONS,
    CallGrant,
    CallRecord,
    CallWire,
    new_call_id,
)
from realtime_gateway.gateway.calls.store import CallState, CallStore, build_call_state
from realtime_gateway.gateway.calls.tokens import (
    TOKEN_PREFIX,
    TokenStore,
    mint_token,
    token_digest,
    token_tenant,
)

__all__ = [
    "ENDED_REASONS",
    "TOKEN_PREFIX",
    "CallGrant",
    "CallRecord",
    "CallState",
    "CallStore",
    "CallWire",
    "TokenStore",
    "build_call_state",
    "mint_token",
    "new_call_id",
    "token_digest",
    "token_tenant",
]
