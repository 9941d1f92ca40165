"""Tenant authentication: static API keys (plain or sha256) and signed JWTs.

Keys are compared as SHA-256 digests against every configured key with `hmac.compare_digest`,
with no early exit, so an unknown key costs the same time as a known one.

A JWT's tenant claim names a tenant: by default the same namespace as the keys' tenants, so a
token whose claim is `acme` *is* the key tenant `acme` (its rate, policy, calls and ledger). With
`GATEWAY_JWT_TENANT_PREFIX` (say `jwt-`) the claim `acme` is the tenant `jwt-acme`, and no key
tenant may start with the prefix: a token issuer can then never act as a key tenant. `iat` and
`nbf` are checked with `GATEWAY_JWT_LEEWAY` seconds of clock skew, `exp` without any; with
`GATEWAY_JWT_MAX_LIFETIME` a token needs `iat`, and `exp - iat` may not exceed it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from realtime_gateway.gateway.errors import Unauthorized
from realtime_gateway.gateway.settings import ConfigError, Settings
from realtime_gateway.wire import bearer_credential

HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")
TENANT_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
MAX_CREDENTIAL_LENGTH = 8192


@dataclass(frozen=True)
class Tenant:
    name: str
    via: Literal["key", "jwt"]


@dataclass(frozen=True)
class _KeyEntry:
    tenant: str
    digest: bytes


def parse_key_entry(entry: str) -> _KeyEntry:
    """`tenant:key` or `tenant:sha256:<hex>` -> the tenant and the key's SHA-256 digest."""
    tenant, sep, rest = entry.partition(":")
    if not sep or not TENANT_NAME.fullmatch(tenant) or not rest:
        raise ValueError("a tenant key entry must look like tenant:key or tenant:sha256:<hex>")
    scheme, sep, hexdigest = rest.partition(":")
    if sep and scheme == "sha256":
        if not HEX_DIGEST.fullmatch(hexdigest):
            raise ValueError(f"tenant {tenant}: sha256 entry must carry 64 hex digits")
        return _KeyEntry(tenant, bytes.fromhex(hexdigest))
    return _KeyEntry(tenant, hashlib.sha256(rest.encode()).digest())


PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


def algorithm_for(key: PublicKey) -> str:
    """Each key accepts only its own algorithm (no algorithm confusion)."""
    return "RS256" if isinstance(key, rsa.RSAPublicKey) else "ES256"


def parse_public_key(pem: str) -> PublicKey:
    """The configured JWT public key: an RSA key (RS256) or a P-256 EC key (ES256)."""
    try:
        key = load_pem_public_key(pem.encode())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError("GATEWAY_JWT_PUBLIC_KEY is not a PEM public key") from None
    if isinstance(key, rsa.RSAPublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise ConfigError("GATEWAY_JWT_PUBLIC_KEY must be an RSA (RS256) or P-256 EC (ES256) key")


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("missing Authorization: Bearer credential")
    token = bearer_credential(authorization)
    if token is None:
        raise Unauthorized("malformed Authorization header: expected 'Bearer <credential>'")
    if len(token) > MAX_CREDENTIAL_LENGTH:
        raise Unauthorized("credential too long")
    return token


class Authenticator:
    """Turns a bearer credential into a `Tenant`, or raises `Unauthorized`."""

    def __init__(
        self,
        settings: Settings,
        *,
        compare: Callable[[bytes, bytes], bool] = hmac.compare_digest,
    ) -> None:
        """`compare` is a seam for tests that count the work an authentication does."""
        self._compare = compare
        self._keys: list[_KeyEntry] = []
        self._runtime_keys: list[_KeyEntry] = []
        self._disabled: frozenset[str] = frozenset()
        for number, entry in enumerate(settings.api_keys, start=1):
            try:
                self._keys.append(parse_key_entry(entry.get_secret_value()))
            except ValueError as error:  # the entry holds a key: name its position, not it
                raise ConfigError(f"GATEWAY_API_KEYS entry {number}: {error}") from None
        self._jwt_keys: list[tuple[str | PublicKey, list[str]]] = []
        if settings.jwt_secret is not None:
            self._jwt_keys.append((settings.jwt_secret.get_secret_value(), ["HS256"]))
        if settings.jwt_public_key:
            public_key = parse_public_key(settings.jwt_public_key)
            # Parsed once here; PyJWT would parse a PEM string again on every request.
            self._jwt_keys.append((public_key, [algorithm_for(public_key)]))
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._tenant_claim = settings.jwt_tenant_claim
        self._tenant_prefix = settings.jwt_tenant_prefix
        self._leeway = settings.jwt_leeway
        self._max_lifetime = settings.jwt_max_lifetime
        if self._tenant_prefix:
            for key_entry in self._keys:
                if key_entry.tenant.startswith(self._tenant_prefix):
                    raise ConfigError(
                        f"key tenant {key_entry.tenant} starts with GATEWAY_JWT_TENANT_PREFIX "
                        f"{self._tenant_prefix!r}: a JWT could act as it"
                    )

    @property
    def key_tenants(self) -> set[str]:
        return {entry.tenant for entry in self._keys}

    def use_runtime(self, keys: list[tuple[str, str]], disabled: frozenset[str]) -> None:
        """The runtime registry's keys (tenant, SHA-256 hex) and disabled tenants, replacing
        the last ones given (`gateway/tenants/directory.py` calls it on every change)."""
        self._runtime_keys = [_KeyEntry(tenant, bytes.fromhex(digest)) for tenant, digest in keys]
        self._disabled = disabled

    def authenticate(self, authorization: str | None) -> Tenant:
        tenant = self._authenticate(authorization)
        if tenant.name in self._disabled:
            raise Unauthorized("unknown or revoked credential")
        return tenant

    def _authenticate(self, authorization: str | None) -> Tenant:
        token = bearer_token(authorization)
        jwt_refusal: Unauthorized | None = None
        if self._jwt_keys and token.count(".") == 2:
            try:
                return self._authenticate_jwt(token)
            except Unauthorized as refusal:  # a plain key may have two dots too
                jwt_refusal = refusal
        try:
            return self._authenticate_key(token)
        except Unauthorized:
            if jwt_refusal is None:
                raise
        raise jwt_refusal  # the token looked like a JWT: its reason says more

    def _authenticate_key(self, token: str) -> Tenant:
        presented = hashlib.sha256(token.encode()).digest()
        match: str | None = None
        # No early exit: the time does not depend on which key matched.
        for entry in [*self._keys, *self._runtime_keys]:
            if self._compare(presented, entry.digest) and match is None:
                match = entry.tenant
        if match is None:
            raise Unauthorized("unknown or revoked credential")
        return Tenant(match, "key")

    def _authenticate_jwt(self, token: str) -> Tenant:
        last_error: jwt.PyJWTError | None = None
        for key, algorithms in self._jwt_keys:
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=algorithms,
                    issuer=self._issuer,
                    audience=self._audience,
                    # For iat and nbf; exp is checked below, with no leeway.
                    leeway=self._leeway,
                    options={
                        "require": ["exp", *(["iat"] if self._max_lifetime else [])],
                        "verify_aud": self._audience is not None,
                        "verify_iss": self._issuer is not None,
                        "verify_exp": False,
                    },
                )
            except jwt.PyJWTError as error:
                last_error = error
                continue
            exp = claims.get("exp")
            if not _is_numeric_date(exp):
                # PyJWT takes "exp": "9999999999" (it calls int()); RFC 7519 says a number.
                raise Unauthorized("token 'exp' claim must be a number (NumericDate)")
            assert isinstance(exp, int | float)
            if exp <= time.time():
                raise Unauthorized("expired credential")
            if self._max_lifetime is not None:
                iat = claims.get("iat")
                if not _is_numeric_date(iat):
                    raise Unauthorized("token 'iat' claim must be a number (NumericDate)")
                assert isinstance(iat, int | float)
                if exp - iat > self._max_lifetime:
                    raise Unauthorized(f"token lifetime (exp - iat) is over {self._max_lifetime} s")
            tenant = claims.get(self._tenant_claim)
            if not isinstance(tenant, str) or not TENANT_NAME.fullmatch(tenant):
                raise Unauthorized(f"token has no valid '{self._tenant_claim}' claim")
            named = self._tenant_prefix + tenant
            if not TENANT_NAME.fullmatch(named):
                raise Unauthorized(f"token's '{self._tenant_claim}' claim is too long")
            return Tenant(named, "jwt")
        raise Unauthorized(_jwt_reason(last_error))


def _is_numeric_date(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _jwt_reason(error: jwt.PyJWTError | None) -> str:
    if isinstance(error, jwt.InvalidAudienceError):
        return "token audience is not accepted"
    if isinstance(error, jwt.InvalidIssuerError):
        return "token issuer is not accepted"
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"token lacks the required '{error.claim}' claim"
    if isinstance(error, jwt.InvalidAlgorithmError):
        return "token algorithm is not accepted"
    if isinstance(error, jwt.ImmatureSignatureError):
        return "token is not yet valid (iat or nbf in the future)"
    return "invalid token"
