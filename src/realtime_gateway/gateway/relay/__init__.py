"""WebSocket sessions (DESIGN section 13): `GET /v1/realtime?model=` relayed to the provider's
Realtime WebSocket on the leash, and `GET /v1/realtime?call_id=`, the tenant's own sideband of
its WebRTC call.

    routes.py          the upgrade: credential, policy, admission, the provider's socket
    relay.py           the two pumps of one session, its usage and its one end
    sessions.py        the sessions this process relays (what `Calls.close_session` ends)
    upstream.py        opening the provider's WebSocket with the provider key
    session_policy.py  what a client event may change (pins, models, voices)
"""
