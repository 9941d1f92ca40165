"""Properties of the three parsers a caller or an operator feeds: the session body, the endpoint
allow-list and the tenant key entries. Each test prints how many inputs it tried."""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from realtime_gateway.gateway.allowlist import AllowList, EndpointRejected, normalise_url
from realtime_gateway.gateway.auth import parse_key_entry
from realtime_gateway.gateway.body import RequestRules, SessionRequest, parse_session_request
from realtime_gateway.gateway.errors import InvalidRequest

EXAMPLES = 600
IDENT = string.ascii_letters + string.digits + "._-"
GA = "https://api.openai.com/v1/realtime/client_secrets"
LOCAL = "http://127.0.0.1:8090/v1/realtime/sessions"
RULES = RequestRules(
    allow_list=AllowList([GA, LOCAL]),
    default_endpoint=GA,
    allowed_models=frozenset(),
    allowed_voices=frozenset(),
)
STRICT = RequestRules(
    allow_list=RULES.allow_list,
    default_endpoint=GA,
    allowed_models=frozenset({"gpt-realtime"}),
    allowed_voices=frozenset({"verse", "alloy"}),
)


class Counted:
    """Counts the inputs a property was run on, to print them."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def run(name: str, prop: Callable[[], None], counter: Counted) -> None:
    prop()
    print(f"{name}: {counter.count} inputs tried")
    assert counter.count >= 50


# -- the session body -------------------------------------------------------------------------


def is_ident(value: object, limit: int) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= limit and all(c in IDENT for c in value)


def expected(body: object, rules: RequestRules) -> SessionRequest | None:
    """The documented rules, written out independently of the parser."""
    if not isinstance(body, dict) or set(body) - {"model", "voice", "endpoint"}:
        return None
    model, voice, endpoint = body.get("model"), body.get("voice"), body.get("endpoint")
    if not is_ident(model, 64) or not is_ident(voice, 32):
        return None
    assert isinstance(model, str) and isinstance(voice, str)
    if rules.allowed_models and model not in rules.allowed_models:
        return None
    if rules.allowed_voices and voice not in rules.allowed_voices:
        return None
    if endpoint is None:
        return SessionRequest(model, voice, rules.default_endpoint)
    if not isinstance(endpoint, str) or not endpoint:
        return None
    try:
        return SessionRequest(model, voice, rules.allow_list.resolve(endpoint))
    except EndpointRejected:
        return None


identifiers = st.one_of(
    st.text(alphabet=IDENT, min_size=0, max_size=70),
    st.text(max_size=40),
    st.sampled_from(["gpt-realtime", "verse", "alloy", "a" * 64, "a" * 65, "v" * 32, "v" * 33]),
    st.integers(),
    st.none(),
    st.booleans(),
    st.lists(st.text(max_size=3), max_size=2),
)
endpoints = st.one_of(
    st.none(),
    st.sampled_from(
        [GA, LOCAL, GA.upper(), "HTTPS://API.openai.com:443/v1/realtime/client_secrets", ""]
    ),
    st.sampled_from([GA + "#x", "https://user@api.openai.com/v1/realtime/client_secrets"]),
    st.text(max_size=60),
    st.integers(),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children)
    ),
    max_leaves=8,
)
bodies = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={"model": identifiers, "voice": identifiers, "endpoint": endpoints},
    ),
    st.dictionaries(
        st.sampled_from(["model", "voice", "endpoint", "extra", "Model"]), identifiers, max_size=4
    ),
    json_values,
)


def test_parse_session_request_accepts_exactly_the_documented_bodies() -> None:
    counter = Counted()

    @settings(max_examples=EXAMPLES, deadline=None)
    @given(body=bodies, strict=st.booleans())
    @example(body={"model": "gpt-realtime", "voice": "verse", "endpoint": LOCAL}, strict=False)
    @example(body={"model": "gpt-realtime\n", "voice": "verse"}, strict=False)
    def prop(body: Any, strict: bool) -> None:
        counter()
        rules = STRICT if strict else RULES
        want = expected(body, rules)
        try:
            got: SessionRequest | None = parse_session_request(json.dumps(body).encode(), rules)
        except InvalidRequest as refusal:
            assert want is None, f"refused a documented body: {refusal.message}"
            assert refusal.message and "\n" not in refusal.message
            return
        assert got == want

    run("parse_session_request (JSON bodies)", prop, counter)


def test_parse_session_request_raises_only_invalid_request_on_any_bytes() -> None:
    counter = Counted()

    @settings(max_examples=EXAMPLES, deadline=None)
    @given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
    @example(raw=b"[" * 5000)
    @example(raw=b"\xff\xfe{\x00}\x00")
    @example(raw=b'{"model": ' + b"1" * 5000 + b"}")
    def prop(raw: bytes) -> None:
        counter()
        try:
            parse_session_request(raw, RULES)
        except InvalidRequest:
            pass

    run("parse_session_request (raw bytes)", prop, counter)


# -- the allow-list ---------------------------------------------------------------------------

hosts = st.one_of(
    st.sampled_from(
        ["api.openai.com", "API.OpenAI.com", "evil.com", "127.0.0.1", "[::1]", "api.openai.com."]
    ),
    st.from_regex(r"[a-z0-9.-]{1,20}", fullmatch=True),
)
ports = st.one_of(st.just(""), st.sampled_from([":443", ":80", ":8090", ":0443", ":"]))
userinfos = st.one_of(st.just(""), st.sampled_from(["user@", "u:p@", "api.openai.com@", "@"]))
paths = st.one_of(
    st.sampled_from(["/v1/realtime/client_secrets", "/v1/realtime/sessions", "", "/v1/../x"]),
    st.text(alphabet=string.ascii_letters + "/.%-_~", max_size=30).map(lambda p: "/" + p),
)
tails = st.one_of(st.just(""), st.sampled_from(["?a=1", "#frag", "#", "?x#y"]))
urls = st.one_of(
    st.builds(
        lambda scheme, user, host, port, path, tail: f"{scheme}://{user}{host}{port}{path}{tail}",
        st.sampled_from(["https", "http", "HTTPS", "ftp", "javascript"]),
        userinfos,
        hosts,
        ports,
        paths,
        tails,
    ),
    st.text(max_size=80),
)


def effective(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}[scheme]


def test_allow_list_never_admits_userinfo_fragment_or_another_origin() -> None:
    counter = Counted()
    allow_list = AllowList([GA, LOCAL])
    listed = {effective(GA), effective(LOCAL)}

    @settings(max_examples=EXAMPLES * 2, deadline=None)
    @given(url=urls)
    @example(url="https://api.openai.com@evil.com/v1/realtime/client_secrets")
    @example(url="https://evil.com\\@api.openai.com/v1/realtime/client_secrets")
    @example(url="https://api.openai.com:443@evil.com/v1/realtime/client_secrets")
    @example(url="https://api.openai.com/v1/realtime/client_secrets#@evil.com")
    @example(url="https://api.openai.com%2f@evil.com/v1/realtime/client_secrets")
    def prop(url: str) -> None:
        counter()
        try:
            normal = normalise_url(url)
        except EndpointRejected:
            with pytest.raises(EndpointRejected):
                allow_list.resolve(url)
            return
        parts = urlsplit(normal)
        assert "@" not in parts.netloc and parts.username is None and parts.password is None
        assert "#" not in normal and parts.fragment == ""
        assert normalise_url(normal) == normal, "normalise_url is not idempotent"
        try:
            resolved = allow_list.resolve(url)
        except EndpointRejected:
            assert normal not in {GA, LOCAL}
            return
        assert resolved == normal and resolved in {GA, LOCAL}
        # What the caller wrote points at the same origin the key will go to.
        assert effective(url) in listed and effective(url) == effective(resolved)

    run("normalise_url / AllowList", prop, counter)


# -- tenant key entries -----------------------------------------------------------------------

TENANT = string.ascii_letters + string.digits + "._-"
entries = st.one_of(
    st.builds(
        lambda tenant, key: f"{tenant}:{key}",
        st.one_of(st.text(alphabet=TENANT, min_size=0, max_size=66), st.text(max_size=8)),
        st.one_of(
            st.text(max_size=30),
            st.builds(
                lambda h: "sha256:" + h, st.text(alphabet="0123456789abcdefABCDEF", max_size=66)
            ),
            st.sampled_from(["sha256", "sha256:", "sha256:" + "a" * 64, "SHA256:" + "b" * 64]),
        ),
    ),
    st.text(max_size=40),
)


def test_parse_key_entry_accepts_exactly_the_two_documented_forms() -> None:
    counter = Counted()

    @settings(max_examples=EXAMPLES, deadline=None)
    @given(entry=entries)
    @example(entry="acme:sha256:" + "0" * 64)
    @example(entry="acme:s3cret:with:colons")
    @example(entry="acme:sha256:" + "0" * 63)
    def prop(entry: str) -> None:
        counter()
        tenant, sep, rest = entry.partition(":")
        tenant_ok = 1 <= len(tenant) <= 64 and all(c in TENANT for c in tenant)
        want: tuple[str, bytes] | None = None
        if sep and tenant_ok and rest:
            if rest.startswith("sha256:"):
                digest = rest.removeprefix("sha256:")
                if len(digest) == 64 and all(c in string.hexdigits for c in digest):
                    want = (tenant, bytes.fromhex(digest))
            else:
                want = (tenant, hashlib.sha256(rest.encode()).digest())
        try:
            parsed = parse_key_entry(entry)
        except ValueError as refusal:
            assert want is None, f"refused a documented entry: {refusal}"
            # The key is never echoed (a key that is part of the fixed wording proves nothing).
            wording = "a tenant key entry must look like tenant:key or tenant:sha256:<hex>"
            assert len(rest) < 8 or rest in wording or rest not in str(refusal)
            return
        assert want == (parsed.tenant, parsed.digest)

    run("parse_key_entry", prop, counter)
