"""The wire reads the gateway and the stub share: one parser each, so they cannot drift apart."""

from __future__ import annotations

from typing import Any

import pytest

from realtime_gateway.wire import bearer_credential, ga_session_voice


@pytest.mark.parametrize(
    ("header", "credential"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("  BEARER abc.def.ghi", "abc.def.ghi"),
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("Basic abc", None),
        ("Bearer a b", None),
        ("Bearerabc", None),
    ],
)
def test_bearer_credential(header: str | None, credential: str | None) -> None:
    assert bearer_credential(header) == credential


@pytest.mark.parametrize(
    ("session", "voice"),
    [
        ({"audio": {"output": {"voice": "marin"}}}, "marin"),
        ({"audio": {"output": {"voice": ""}}}, None),
        ({"audio": {"output": {"voice": 7}}}, None),
        ({"audio": {"output": "marin"}}, None),
        ({"audio": None}, None),
        ({}, None),
    ],
)
def test_ga_session_voice(session: dict[str, Any], voice: str | None) -> None:
    assert ga_session_voice(session) == voice
