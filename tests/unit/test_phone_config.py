"""Phone settings refused at start-up, in one line, before anything serves."""

from __future__ import annotations

import re
from typing import Any

import pytest

from realtime_gateway.gateway.composition import check_phone
from realtime_gateway.gateway.settings import ConfigError, load_settings
from realtime_gateway.webhook_signing import WebhookSecret

_, SECRET = WebhookSecret.generate()


def settings(**values: Any) -> Any:
    return load_settings(api_keys=["acme:k1"], **values)


def test_a_good_phone_configuration_passes() -> None:
    check_phone(
        settings(
            openai_webhook_secret=SECRET,
            tenant_policies={
                "acme": {
                    "phone_numbers": ["+15551230001"],
                    "phone_answer": "forward",
                    "phone_webhook_url": "https://acme.example/phone",
                    "phone_webhook_secret": SECRET,
                },
                "globex": {"phone_numbers": ["+15551230002"]},
            },
        )
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"openai_webhook_secret": "not-a-whsec"}, "GATEWAY_OPENAI_WEBHOOK_SECRET"),
        ({"openai_webhook_secret": "whsec_%%%"}, "GATEWAY_OPENAI_WEBHOOK_SECRET"),
        (
            {
                "tenant_policies": {
                    "acme": {"phone_numbers": ["+15551230001"]},
                    "globex": {"phone_numbers": ["+15551230001"]},
                }
            },
            "+15551230001 is in more than one tenant",
        ),
        (
            {"tenant_policies": {"acme": {"phone_answer": "forward"}}},
            "phone_webhook_url must be an absolute http(s) URL",
        ),
        (
            {
                "tenant_policies": {
                    "acme": {
                        "phone_answer": "forward",
                        "phone_webhook_url": "https://acme.example/phone",
                        "phone_webhook_secret": "hunter2",
                    }
                }
            },
            "phone_webhook_secret",
        ),
    ],
)
def test_what_cannot_serve_phone_calls_is_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as refused:
        check_phone(settings(**values))
    assert "hunter2" not in str(refused.value) and SECRET not in str(refused.value)
