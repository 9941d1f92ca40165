"""`realtime-gateway keys new`: a fresh key, and a config line for a tenant that accepts it;
`keys` alone prints its usage; every subcommand option says what it is for."""

from __future__ import annotations

import argparse

import pytest

from realtime_gateway.cli import build_parser, main
from realtime_gateway.gateway.auth import Authenticator
from realtime_gateway.gateway.settings import load_settings


def new_key_lines(capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    assert main(["keys", "new", "--tenant", "acme"]) == 0
    key_line, config_line = capsys.readouterr().out.strip().splitlines()
    return key_line.split()[-1], config_line.split()[-1]


def test_printed_line_authenticates_the_printed_key(capsys: pytest.CaptureFixture[str]) -> None:
    key, config = new_key_lines(capsys)
    assert config.startswith("acme:sha256:")
    assert key not in config
    authenticator = Authenticator(load_settings(api_keys=[config]))
    assert authenticator.authenticate(f"Bearer {key}").name == "acme"


def test_keys_are_fresh_and_long(capsys: pytest.CaptureFixture[str]) -> None:
    first, _ = new_key_lines(capsys)
    second, _ = new_key_lines(capsys)
    assert first != second
    assert len(first) >= 40


def test_keys_without_subcommand_prints_its_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys"]) == 2
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err.startswith("usage: realtime-gateway keys")
    assert "new" in printed.err and "make a fresh tenant key" in printed.err
    assert "keys_command" not in printed.err


@pytest.mark.parametrize("command", ["serve", "stub", "demo", "connect"])
def test_every_option_has_help(command: str) -> None:
    commands = next(
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    undocumented = [
        action.option_strings
        for action in commands.choices[command]._actions
        if not action.help or action.help == argparse.SUPPRESS
    ]
    assert undocumented == []
