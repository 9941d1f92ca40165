"""What the stub makes of a dial: the INVITE's addresses and headers as OpenAI lists them."""

from __future__ import annotations

import pytest

from realtime_gateway.stub.sip_dial import DialError, parse_dial, sip_headers, sip_uri


def test_a_bare_number_becomes_a_sip_uri_and_a_given_uri_is_kept() -> None:
    assert sip_uri("+15551230001", "sip.api.openai.com") == "<sip:+15551230001@sip.api.openai.com>"
    assert sip_uri("tel:+15551230001", "h") == "<tel:+15551230001>"
    assert sip_uri("sips:desk@example.com", "h") == "<sips:desk@example.com>"
    assert sip_uri('"Shop" <sip:+1555@example.com>', "h") == '"Shop" <sip:+1555@example.com>'


def test_headers_come_in_invite_order_then_the_extras_without_authorization() -> None:
    dial = parse_dial(
        {
            "to": "+15551230001",
            "headers": {"X-B": "2", "Proxy-Authorization": "Digest x", "X-A": "1"},
        }
    )
    names = [h["name"] for h in sip_headers(dial)]
    assert names == ["From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Type", "X-B", "X-A"]
    assert dial.api == "realtime" and dial.speak  # defaults: Realtime, a caller who speaks


def test_each_dial_gets_its_own_call_id_and_from_tag() -> None:
    dial = parse_dial({"to": "+15551230001"})
    first, second = sip_headers(dial), sip_headers(dial)
    for name in ("Call-ID", "From"):
        assert next(h for h in first if h["name"] == name) != next(
            h for h in second if h["name"] == name
        )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"to": "  "}, "to"),
        ({"to": "+1555\r\nVia: evil"}, "to"),
        ({"to": "+1555", "from": 5}, "from"),
        ({"to": "+1555", "speak": "x" * 1001}, "speak"),
        ({"to": "+1555", "headers": {f"X-{i}": "v" for i in range(33)}}, "headers"),
        ({"to": "+1555", "headers": {"X-Num": 1}}, "headers"),
    ],
)
def test_refused_dials_name_the_field(body: dict[str, object], param: str) -> None:
    with pytest.raises(DialError) as refused:
        parse_dial(body)
    assert refused.value.param == param
