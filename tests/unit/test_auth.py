"""Tenant authentication: static keys (plain and sha256) and JWTs (HS256, RS256, ES256)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import jwt.algorithms
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from realtime_gateway.gateway.auth import Authenticator, Tenant, parse_key_entry
from realtime_gateway.gateway.errors import Unauthorized
from realtime_gateway.gateway.keys import new_key, sha256_hex
from realtime_gateway.gateway.settings import ConfigError, load_settings

HS_SECRET = "a-very-long-hs256-secret-for-tests-0123456789"


def authenticator(**overrides: Any) -> Authenticator:
    values: dict[str, Any] = {"api_keys": ["acme:plain-key-1"]}
    values.update(overrides)
    return Authenticator(load_settings(**values))


def bearer(token: str) -> str:
    return f"Bearer {token}"


def hs_token(claims: dict[str, Any], **kwargs: Any) -> str:
    base = {"tenant": "acme", "exp": int(time.time()) + 60}
    base.update(claims)
    return jwt.encode(base, HS_SECRET, algorithm="HS256", **kwargs)


def test_plain_key_names_its_tenant() -> None:
    tenant = authenticator().authenticate(bearer("plain-key-1"))
    assert (tenant.name, tenant.via) == ("acme", "key")


def test_hashed_key_from_keys_new_authenticates() -> None:
    key = new_key()
    auth = authenticator(api_keys=[f"globex:sha256:{sha256_hex(key)}"])
    assert auth.authenticate(bearer(key)).name == "globex"
    assert sha256_hex(key) == hashlib.sha256(key.encode()).hexdigest()


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing"),
        ("", "missing"),
        ("Basic abc", "malformed"),
        ("Bearer", "malformed"),
        ("Bearer a b", "malformed"),
        ("Bearer not-a-key", "unknown"),
    ],
)
def test_bad_credentials_are_unauthorized(header: str | None, message: str) -> None:
    with pytest.raises(Unauthorized, match=message) as raised:
        authenticator().authenticate(header)
    assert raised.value.headers["WWW-Authenticate"] == "Bearer"


def test_revoked_key_no_longer_authenticates() -> None:
    before = authenticator(api_keys=["acme:old", "acme:new"])
    after = authenticator(api_keys=["acme:new"])
    assert before.authenticate(bearer("old")).name == "acme"
    with pytest.raises(Unauthorized):
        after.authenticate(bearer("old"))


@pytest.mark.parametrize(
    "entry",
    ["nocolon", ":key", "acme:", "acme:sha256:xyz", "bad tenant:key", "acme:sha256:" + "a" * 63],
)
def test_malformed_key_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError):
        parse_key_entry(entry)


def test_hs256_jwt_names_tenant_from_claim() -> None:
    auth = authenticator(jwt_secret=HS_SECRET)
    tenant = auth.authenticate(bearer(hs_token({})))
    assert (tenant.name, tenant.via) == ("acme", "jwt")


def test_custom_tenant_claim() -> None:
    auth = authenticator(jwt_secret=HS_SECRET, jwt_tenant_claim="org")
    assert auth.authenticate(bearer(hs_token({"org": "initech"}))).name == "initech"


def test_expired_jwt_is_refused() -> None:
    auth = authenticator(jwt_secret=HS_SECRET)
    with pytest.raises(Unauthorized, match="expired"):
        auth.authenticate(bearer(hs_token({"exp": int(time.time()) - 5})))


def test_jwt_without_exp_is_refused() -> None:
    auth = authenticator(jwt_secret=HS_SECRET)
    token = jwt.encode({"tenant": "acme"}, HS_SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized, match="exp"):
        auth.authenticate(bearer(token))


def test_alg_none_jwt_is_refused() -> None:
    auth = authenticator(jwt_secret=HS_SECRET)
    token = jwt.encode({"tenant": "acme", "exp": int(time.time()) + 60}, None, algorithm="none")
    with pytest.raises(Unauthorized):
        auth.authenticate(bearer(token))


def test_jwt_signed_with_another_secret_is_refused() -> None:
    auth = authenticator(jwt_secret=HS_SECRET)
    token = jwt.encode({"tenant": "acme", "exp": int(time.time()) + 60}, "x" * 40, "HS256")
    with pytest.raises(Unauthorized, match="invalid token"):
        auth.authenticate(bearer(token))


def test_audience_and_issuer_are_enforced_when_set() -> None:
    auth = authenticator(jwt_secret=HS_SECRET, jwt_audience="gateway", jwt_issuer="idp")
    good = hs_token({"aud": "gateway", "iss": "idp"})
    assert auth.authenticate(bearer(good)).name == "acme"
    with pytest.raises(Unauthorized, match="audience"):
        auth.authenticate(bearer(hs_token({"aud": "someone-else", "iss": "idp"})))
    with pytest.raises(Unauthorized, match="issuer"):
        auth.authenticate(bearer(hs_token({"aud": "gateway", "iss": "rogue"})))


def test_jwt_without_tenant_claim_is_refused() -> None:
    auth = authenticator(jwt_secret=HS_SECRET)
    token = jwt.encode({"exp": int(time.time()) + 60}, HS_SECRET, "HS256")
    with pytest.raises(Unauthorized, match="tenant"):
        auth.authenticate(bearer(token))


def _pem(private_key: Any) -> tuple[bytes, str]:
    private = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


@pytest.mark.parametrize(
    ("algorithm", "make_key"),
    [
        ("RS256", lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ("ES256", lambda: ec.generate_private_key(ec.SECP256R1())),
    ],
)
def test_public_key_jwts(algorithm: str, make_key: Any) -> None:
    private, public = _pem(make_key())
    auth = authenticator(jwt_public_key=public)
    token = jwt.encode({"tenant": "acme", "exp": int(time.time()) + 60}, private, algorithm)
    assert auth.authenticate(bearer(token)).name == "acme"


def test_hs256_token_signed_with_the_public_key_is_refused() -> None:
    # The classic algorithm-confusion attack: HS256 keyed with the published RSA public key.
    private, public = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    auth = authenticator(jwt_public_key=public)
    header = {"alg": "HS256", "typ": "JWT"}

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    payload = {"tenant": "acme", "exp": int(time.time()) + 60}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(public.encode(), signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(Unauthorized):
        auth.authenticate(bearer(f"{signing_input}.{b64(signature)}"))


def test_unknown_tenant_takes_same_time() -> None:
    # Constant work, not a stopwatch: every authentication compares against every key, in
    # constant time, whether the key is the first, the last or none of them.
    comparisons: list[int] = []

    def counting(a: bytes, b: bytes) -> bool:
        comparisons.append(1)
        return hmac.compare_digest(a, b)

    keys = [f"t{i}:key-{i}" for i in range(20)]
    auth = Authenticator(load_settings(api_keys=keys), compare=counting)
    counts = []
    for presented in ("key-0", "key-19", "not-a-key"):
        comparisons.clear()
        try:
            auth.authenticate(bearer(presented))
        except Unauthorized:
            pass
        counts.append(len(comparisons))
    assert counts == [20, 20, 20]


def test_plain_key_with_two_dots_is_tried_as_a_key_when_jwt_is_configured() -> None:
    auth = authenticator(api_keys=["acme:part.of.key"], jwt_secret=HS_SECRET)
    assert auth.authenticate(bearer("part.of.key")) == Tenant("acme", "key")
    # A JWT-shaped credential that is neither a valid token nor a key keeps the JWT reason.
    with pytest.raises(Unauthorized, match="invalid token"):
        auth.authenticate(bearer("part.of.other"))
    with pytest.raises(Unauthorized, match="expired credential"):
        auth.authenticate(bearer(hs_token({"exp": int(time.time()) - 120})))
    assert auth.authenticate(bearer(hs_token({}))) == Tenant("acme", "jwt")


def test_public_key_is_parsed_once_not_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    # A spy on PyJWT's own PEM parser (not a stand-in: it still parses), counting its calls.
    private, public = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    auth = authenticator(jwt_public_key=public)
    parses: list[bytes] = []
    real_parse = serialization.load_pem_public_key  # the function PyJWT imported

    def counting(data: bytes, *args: Any, **kwargs: Any) -> Any:
        parses.append(data)
        return real_parse(data, *args, **kwargs)

    monkeypatch.setattr(jwt.algorithms, "load_pem_public_key", counting)
    token = jwt.encode({"tenant": "acme", "exp": int(time.time()) + 60}, private, "RS256")
    for _ in range(3):
        assert auth.authenticate(bearer(token)).name == "acme"
    assert parses == []


def test_public_key_of_another_kind_is_refused_at_start_up() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    pem = p384.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    with pytest.raises(ConfigError, match="RSA \\(RS256\\) or P-256 EC \\(ES256\\)"):
        authenticator(jwt_public_key=pem)


def test_a_public_key_accepts_only_its_own_algorithm() -> None:
    rsa_private, rsa_public = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    ec_private, _ = _pem(ec.generate_private_key(ec.SECP256R1()))
    auth = authenticator(jwt_public_key=rsa_public)
    claims = {"tenant": "acme", "exp": int(time.time()) + 60}
    with pytest.raises(Unauthorized, match="algorithm is not accepted"):
        auth.authenticate(bearer(jwt.encode(claims, ec_private, "ES256")))
    assert auth.authenticate(bearer(jwt.encode(claims, rsa_private, "RS256"))).name == "acme"


# -- namespaces, clock leeway, lifetime ------------------------------------------------------


def test_by_default_a_jwt_naming_a_key_tenant_is_that_tenant() -> None:
    auth = authenticator(jwt_secret=HS_SECRET)
    assert auth.authenticate(bearer(hs_token({}))).name == "acme"  # as the key "plain-key-1"


def test_a_tenant_prefix_keeps_jwt_tenants_apart_from_key_tenants() -> None:
    auth = authenticator(jwt_secret=HS_SECRET, jwt_tenant_prefix="jwt-")
    tenant = auth.authenticate(bearer(hs_token({})))
    assert (tenant.name, tenant.via) == ("jwt-acme", "jwt")
    assert auth.authenticate(bearer("plain-key-1")).name == "acme"


def test_a_key_tenant_inside_the_jwt_prefix_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="starts with GATEWAY_JWT_TENANT_PREFIX"):
        authenticator(api_keys=["jwt-acme:k"], jwt_secret=HS_SECRET, jwt_tenant_prefix="jwt-")


def test_a_prefixed_tenant_name_must_still_fit() -> None:
    auth = authenticator(jwt_secret=HS_SECRET, jwt_tenant_prefix="jwt-")
    with pytest.raises(Unauthorized, match="too long"):
        auth.authenticate(bearer(hs_token({"tenant": "a" * 64})))


def test_iat_and_nbf_a_little_in_the_future_are_within_the_leeway() -> None:
    auth = authenticator(jwt_secret=HS_SECRET, jwt_leeway=30)
    soon = int(time.time()) + 10  # an issuer whose clock runs 10 s ahead
    assert auth.authenticate(bearer(hs_token({"iat": soon, "nbf": soon}))).name == "acme"


def test_the_default_leeway_allows_a_few_seconds() -> None:
    auth = authenticator(jwt_secret=HS_SECRET)  # GATEWAY_JWT_LEEWAY: 5 s
    soon = int(time.time()) + 2
    assert auth.authenticate(bearer(hs_token({"iat": soon}))).name == "acme"


@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_iat_or_nbf_past_the_leeway_is_refused(claim: str) -> None:
    auth = authenticator(jwt_secret=HS_SECRET, jwt_leeway=5)
    later = int(time.time()) + 120
    with pytest.raises(Unauthorized, match="not yet valid"):
        auth.authenticate(bearer(hs_token({claim: later, "exp": later + 60})))


def test_the_leeway_does_not_extend_exp() -> None:
    auth = authenticator(jwt_secret=HS_SECRET, jwt_leeway=300)
    with pytest.raises(Unauthorized, match="expired"):
        auth.authenticate(bearer(hs_token({"exp": int(time.time()) - 60})))


def test_a_maximum_lifetime_refuses_longer_tokens_and_needs_iat() -> None:
    auth = authenticator(jwt_secret=HS_SECRET, jwt_max_lifetime=3600)
    now = int(time.time())
    assert auth.authenticate(bearer(hs_token({"iat": now, "exp": now + 3600}))).name == "acme"
    with pytest.raises(Unauthorized, match="lifetime"):
        auth.authenticate(bearer(hs_token({"iat": now, "exp": now + 3601})))
    with pytest.raises(Unauthorized, match="'iat'"):
        auth.authenticate(bearer(hs_token({"exp": now + 60})))


def test_no_maximum_lifetime_by_default() -> None:
    auth = authenticator(jwt_secret=HS_SECRET)
    now = int(time.time())
    assert auth.authenticate(bearer(hs_token({"iat": now, "exp": now + 10 * 365 * 86400})))


def test_runtime_keys_are_checked_and_a_disabled_tenant_is_refused() -> None:

    auth = Authenticator(load_settings(api_keys=["acme:config-key-0123456789"]))
    runtime_key = "rtg_live_runtime-key-0123456789"
    digest = hashlib.sha256(runtime_key.encode()).hexdigest()
    with pytest.raises(Unauthorized):
        auth.authenticate(f"Bearer {runtime_key}")
    auth.use_runtime([("initech", digest)], frozenset())
    assert auth.authenticate(f"Bearer {runtime_key}").name == "initech"
    assert auth.authenticate("Bearer config-key-0123456789").name == "acme"
    auth.use_runtime([("initech", digest)], frozenset({"initech"}))
    with pytest.raises(Unauthorized):
        auth.authenticate(f"Bearer {runtime_key}")
    auth.use_runtime([], frozenset())  # revoked
    with pytest.raises(Unauthorized):
        auth.authenticate(f"Bearer {runtime_key}")
