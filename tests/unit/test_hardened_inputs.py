"""Inputs the red team bent: percent-encoded dot segments in
endpoints, and a JWT `exp` that is a string of digits rather than a NumericDate."""

from __future__ import annotations

import time

import jwt
import pytest

from realtime_gateway.gateway.allowlist import AllowList, EndpointRejected, normalise_url
from realtime_gateway.gateway.auth import Authenticator
from realtime_gateway.gateway.errors import Unauthorized
from realtime_gateway.gateway.settings import load_settings

GA = "https://api.openai.com/v1/realtime/client_secrets"
HS_SECRET = "a-very-long-hs256-secret-for-tests-0123456789"


@pytest.mark.parametrize(
    "url",
    [
        "https://api.openai.com/v1/realtime/%2e%2e/client_secrets",
        "https://api.openai.com/v1/realtime/%2E./client_secrets",
        "https://api.openai.com/v1/realtime/.%2E/client_secrets",
        "https://api.openai.com/v1/realtime/%2e/client_secrets",
        "https://api.openai.com/v1/%2E%2E",
    ],
)
def test_percent_encoded_dot_segments_are_refused_in_callers_endpoints(url: str) -> None:
    with pytest.raises(EndpointRejected, match="dot segments"):
        AllowList([GA]).resolve(url)


def test_percent_encoded_dot_segments_are_refused_in_allow_list_entries() -> None:
    with pytest.raises(EndpointRejected, match="dot segments"):
        AllowList(["https://api.openai.com/v1/realtime/x/%2e%2e/client_secrets"])


def test_percent_encoded_dots_inside_a_segment_are_still_a_path() -> None:
    # Only whole segments that decode to "." or ".." are dot segments.
    url = "https://provider.example/v1/a%2eb/client_secrets"
    assert normalise_url(url) == url


@pytest.mark.parametrize("exp", ["9999999999", "+9999999999", "09999999999"])
def test_jwt_exp_given_as_a_numeric_string_is_refused(exp: str) -> None:
    auth = Authenticator(load_settings(jwt_secret=HS_SECRET))
    token = jwt.encode({"tenant": "acme", "exp": exp}, HS_SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized, match="exp"):
        auth.authenticate(f"Bearer {token}")


def test_jwt_exp_as_a_number_is_accepted() -> None:
    auth = Authenticator(load_settings(jwt_secret=HS_SECRET))
    for exp in (int(time.time()) + 60, time.time() + 60.5):
        token = jwt.encode({"tenant": "acme", "exp": exp}, HS_SECRET, algorithm="HS256")
        assert auth.authenticate(f"Bearer {token}").name == "acme"
