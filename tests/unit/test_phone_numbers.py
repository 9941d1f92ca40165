"""The SIP `To` number, normalised to E.164, picks the tenant; nothing else does."""

from __future__ import annotations

import pytest

from realtime_gateway.gateway.phone.numbers import (
    header_value,
    number_of,
    shared_numbers,
    tenant_for_number,
)
from realtime_gateway.gateway.policy import Policies, TenantPolicy


@pytest.mark.parametrize(
    ("address", "number"),
    [
        ("<sip:+15551230001@sip.api.openai.com>", "+15551230001"),
        ('"Acme Support" <sip:+1 (555) 123-0001@host;user=phone>;tag=abc', "+15551230001"),
        ("<tel:+1-555-123-0001>", "+15551230001"),
        ("sips:+15551230001@host;transport=tls", "+15551230001"),
        ("<sip:0015551230001@host>", "+15551230001"),
        ("<sip:15551230001@host>", "+15551230001"),
        ("<SIP:+15551230001@HOST>", "+15551230001"),
    ],
)
def test_numbers_are_normalised_to_e164(address: str, number: str) -> None:
    assert number_of(address) == number


@pytest.mark.parametrize(
    "address",
    [
        None,
        "",
        "<sip:support@acme.example>",
        "<http://+15551230001>",
        "+15551230001",  # not a URI
        "<sip:+0551230001@host>",  # E.164 has no leading zero
        "<sip:+1555123000123456789@host>",  # longer than 15 digits
        "<sip:+1555;evil=+15551230001@host>",
    ],
)
def test_what_is_not_a_number_is_none(address: str | None) -> None:
    assert number_of(address) is None


def test_only_the_to_header_is_read_whatever_its_case() -> None:
    headers = [
        {"name": "X-Tenant", "value": "globex"},
        {"name": "to", "value": "<sip:+15551230001@host>"},
        {"name": "To", "value": "<sip:+15559999999@host>"},
    ]
    assert header_value(headers, "To") == "<sip:+15551230001@host>"
    assert header_value([{"name": "From", "value": "x"}], "To") is None


POLICIES = Policies(
    tenants={
        "acme": TenantPolicy(phone_numbers=("+15551230001",)),
        "globex": TenantPolicy(phone_numbers=("+15551230002", "+15551230003")),
        "initech": TenantPolicy(phone_numbers=("+15551230003",)),
    }
)


def test_the_tenant_is_the_one_that_names_the_number() -> None:
    assert tenant_for_number(POLICIES, "+15551230001") == "acme"
    assert tenant_for_number(POLICIES, "+15551230002") == "globex"
    assert tenant_for_number(POLICIES, "+15550000000") is None
    assert tenant_for_number(POLICIES, None) is None


def test_a_number_two_tenants_name_is_nobodys_and_a_configuration_error() -> None:
    assert tenant_for_number(POLICIES, "+15551230003") is None
    assert shared_numbers(POLICIES) == ["+15551230003"]
