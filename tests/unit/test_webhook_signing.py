"""Standard Webhooks signing (`realtime_gateway.webhook_signing`) against the official `openai`
package's checker, the specification's test vector, and the refusals a receiver relies on."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

import pytest
from openai import InvalidWebhookSignatureError, OpenAI

from realtime_gateway.webhook_signing import (
    WebhookSecret,
    WebhookSecretError,
    WebhookVerificationError,
)

SECRET_TEXT = "whsec_" + base64.b64encode(b"a test secret of thirty-two byte").decode()
SECRET = WebhookSecret(SECRET_TEXT)
NOW = 1_760_000_000
BODY = json.dumps(
    {
        "object": "event",
        "id": "evt_0123456789abcdef",
        "type": "realtime.call.incoming",
        "created_at": NOW,
        "data": {
            "call_id": "rtc_0123456789abcdef",
            "sip_headers": [{"name": "To", "value": "<sip:+15551230001@sip.api.openai.com>"}],
        },
    }
)


def clock(seconds: float) -> Callable[[], float]:
    return lambda: seconds


def openai_client() -> OpenAI:
    # Never sends a request: `webhooks.unwrap` and `verify_signature` work offline.
    return OpenAI(api_key="sk-unused", base_url="http://127.0.0.1:9/v1")


def by_hand_as_openai_does(secret: str, webhook_id: str, timestamp: str, body: str) -> str:
    """`openai/lib/_webhooks.py`'s expected signature, computed the way it computes it (the
    package verifies but has no signer)."""
    key = base64.b64decode(secret[len("whsec_") :])
    signed = f"{webhook_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def test_our_signature_is_accepted_by_the_openai_package() -> None:
    headers = SECRET.headers(BODY)  # signed now, as the package checks against time.time()
    client = openai_client()
    client.webhooks.verify_signature(BODY, headers, secret=SECRET_TEXT)
    event = client.webhooks.unwrap(BODY.encode(), headers, secret=SECRET_TEXT)
    assert event.type == "realtime.call.incoming"
    assert event.data.call_id == "rtc_0123456789abcdef"  # type: ignore[union-attr]


def test_a_retry_keeps_its_id_and_still_verifies_with_the_openai_package() -> None:
    first = SECRET.headers(BODY, clock=lambda: time.time() - 200)
    again = SECRET.headers(BODY, webhook_id=first["webhook-id"])
    assert again["webhook-id"] == first["webhook-id"]
    assert again["webhook-timestamp"] != first["webhook-timestamp"]
    openai_client().webhooks.verify_signature(BODY, again, secret=SECRET_TEXT)


def test_the_openai_package_refuses_our_signature_under_another_secret() -> None:
    other = "whsec_" + base64.b64encode(b"another secret entirely, 32 byte").decode()
    with pytest.raises(InvalidWebhookSignatureError):
        openai_client().webhooks.unwrap(BODY, SECRET.headers(BODY), secret=other)


def test_a_signature_made_as_the_openai_package_checks_is_accepted_by_ours() -> None:
    signature = by_hand_as_openai_does(SECRET_TEXT, "wh_abc", str(NOW), BODY)
    headers = {
        "webhook-id": "wh_abc",
        "webhook-timestamp": str(NOW),
        "webhook-signature": signature,
    }
    assert SECRET.verify(BODY, headers, clock=clock(NOW)) == "wh_abc"
    assert SECRET.verify(BODY.encode(), headers, clock=clock(NOW)) == "wh_abc"


def test_the_standard_webhooks_test_vector() -> None:
    # From the Standard Webhooks specification's reference tests.
    secret = WebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = '{"test": 2432232314}'
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    assert secret.signature(headers["webhook-id"], 1614265330, body) == headers["webhook-signature"]
    assert secret.verify(body, headers, clock=clock(1614265330)) == "msg_p5jXN8AQM9LWM0D4loKWxJek"


def verify_at(headers: dict[str, str], now: float, body: str = BODY) -> str:
    return SECRET.verify(body, headers, clock=clock(now))


def test_tampered_body_is_refused() -> None:
    headers = SECRET.headers(BODY, clock=clock(NOW))
    with pytest.raises(WebhookVerificationError) as refused:
        verify_at(headers, NOW, body=BODY.replace("+15551230001", "+15551230002"))
    assert refused.value.reason == "no webhook signature matches"


def test_tampered_id_or_timestamp_is_refused() -> None:
    headers = SECRET.headers(BODY, clock=clock(NOW))
    for name, value in (("webhook-id", "wh_other"), ("webhook-timestamp", str(NOW + 1))):
        with pytest.raises(WebhookVerificationError):
            verify_at({**headers, name: value}, NOW)


def test_wrong_secret_is_refused() -> None:
    other, _ = WebhookSecret.generate()
    with pytest.raises(WebhookVerificationError):
        other.verify(BODY, SECRET.headers(BODY, clock=clock(NOW)), clock=clock(NOW))


def test_stale_and_future_timestamps_are_refused_past_300_seconds() -> None:
    headers = SECRET.headers(BODY, clock=clock(NOW))
    assert verify_at(headers, NOW + 300) == headers["webhook-id"]
    assert verify_at(headers, NOW - 300) == headers["webhook-id"]
    with pytest.raises(WebhookVerificationError) as stale:
        verify_at(headers, NOW + 301)
    assert stale.value.reason == "webhook timestamp too old"
    with pytest.raises(WebhookVerificationError) as future:
        verify_at(headers, NOW - 301)
    assert future.value.reason == "webhook timestamp too new"


def test_any_of_several_signatures_passes() -> None:
    good = SECRET.headers(BODY, clock=clock(NOW))
    rotated_out, _ = WebhookSecret.generate()
    old = rotated_out.signature(good["webhook-id"], NOW, BODY)
    for listed in (
        f"{old} {good['webhook-signature']}",
        f"{good['webhook-signature']} {old}",
        f"v1a,c29tZSBhc3ltbWV0cmljIHNpZ25hdHVyZQ== {good['webhook-signature']}",
    ):
        assert verify_at({**good, "webhook-signature": listed}, NOW) == good["webhook-id"]
    with pytest.raises(WebhookVerificationError):
        verify_at({**good, "webhook-signature": f"{old} v1,bm90IGEgc2lnbmF0dXJl"}, NOW)


def test_only_v1_entries_count() -> None:
    good = SECRET.headers(BODY, clock=clock(NOW))
    bare = good["webhook-signature"].removeprefix("v1,")
    with pytest.raises(WebhookVerificationError):
        verify_at({**good, "webhook-signature": bare}, NOW)
    with pytest.raises(WebhookVerificationError):
        verify_at({**good, "webhook-signature": "v2," + bare}, NOW)


def test_missing_or_malformed_headers_are_refused_with_a_reason() -> None:
    good = SECRET.headers(BODY, clock=clock(NOW))
    for name in good:
        without = {k: v for k, v in good.items() if k != name}
        with pytest.raises(WebhookVerificationError) as missing:
            verify_at(without, NOW)
        assert missing.value.reason == f"missing {name} header"
    for stamp in ("soon", "1.5", "-5", "١٢٣"):
        with pytest.raises(WebhookVerificationError) as malformed:
            verify_at({**good, "webhook-timestamp": stamp}, NOW)
        assert "whole number" in malformed.value.reason
    with pytest.raises(WebhookVerificationError):
        verify_at({**good, "webhook-signature": " ".join([good["webhook-signature"]] * 17)}, NOW)


def test_header_names_are_read_in_any_case() -> None:
    good = SECRET.headers(BODY, clock=clock(NOW))
    shouted = {name.upper(): value for name, value in good.items()}
    assert verify_at(shouted, NOW) == good["webhook-id"]


def test_a_secret_that_is_not_whsec_base64_is_refused_without_echoing_it() -> None:
    for text in ("sk-not-a-webhook-secret", "whsec_not*base64!", "whsec_", "MfKQ9r8GKYqrTwjU"):
        with pytest.raises(WebhookSecretError) as refused:
            WebhookSecret(text)
        assert text not in str(refused.value) or text == "whsec_"
        assert isinstance(refused.value, ValueError)


def test_the_secret_never_prints() -> None:
    secret, text = WebhookSecret.generate()
    assert text.startswith("whsec_")
    assert text[6:] not in repr(secret) and text[6:] not in str(secret)
    headers = secret.headers(BODY, clock=clock(NOW))
    with pytest.raises(WebhookVerificationError) as refused:
        secret.verify(BODY + " ", headers, clock=clock(NOW))
    assert text[6:] not in str(refused.value)
