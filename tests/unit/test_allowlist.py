"""The endpoint allow-list: exact match on the normalised URL, nothing smuggled past it."""

from __future__ import annotations

import pytest

from realtime_gateway.gateway.allowlist import AllowList, EndpointRejected, normalise_url

GA = "https://api.openai.com/v1/realtime/client_secrets"


@pytest.mark.parametrize(
    "spelling",
    [
        GA,
        "HTTPS://API.OpenAI.com/v1/realtime/client_secrets",
        "https://api.openai.com:443/v1/realtime/client_secrets",
    ],
)
def test_equivalent_spellings_are_allowed(spelling: str) -> None:
    assert AllowList([GA]).resolve(spelling) == GA


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://evil.example/v1/realtime/client_secrets", "not in"),
        ("https://api.openai.com.evil.example/v1/realtime/client_secrets", "not in"),
        ("https://api.openai.com:8443/v1/realtime/client_secrets", "not in"),
        ("http://api.openai.com/v1/realtime/client_secrets", "not in"),
        ("https://api.openai.com/v1/realtime/client_secrets/extra", "not in"),
        ("https://user:pw@api.openai.com/v1/realtime/client_secrets", "user information"),
        ("https://api.openai.com@evil.example/v1/realtime/client_secrets", "user information"),
        ("https://api.openai.com/v1/realtime/client_secrets#frag", "fragment"),
        ("https://api.openai.com/v1/../v1/realtime/client_secrets", "dot segments"),
        ("https://api.openai.com\\@evil.example/v1", "backslashes"),
        ("ftp://api.openai.com/v1/realtime/client_secrets", "http or https"),
        ("/v1/realtime/client_secrets", "http or https"),
        ("https://api.openai.com:99999/v1", "not a valid URL"),
        ("https://" + "a" * 3000, "longer"),
    ],
)
def test_anything_else_is_rejected(url: str, reason: str) -> None:
    with pytest.raises(EndpointRejected, match=reason):
        AllowList([GA]).resolve(url)


def test_rejection_message_never_echoes_the_url() -> None:
    url = "https://collector.evil.example/steal"
    with pytest.raises(EndpointRejected) as raised:
        AllowList([GA]).resolve(url)
    assert "evil" not in str(raised.value)


def test_normalising_is_idempotent_and_keeps_non_default_ports() -> None:
    url = "http://127.0.0.1:8090/v1/realtime/sessions"
    assert normalise_url(url) == url
    assert normalise_url(normalise_url(url)) == url
