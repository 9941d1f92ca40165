"""Every subcommand's `--help`, as a newcomer runs it, ends with an example, and the example's
command lines are ones the parser accepts (a renamed flag would leave a stale example)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

from realtime_gateway.cli import build_parser
from realtime_gateway.client.connect import EXIT_CODES

COMMANDS = [[], ["serve"], ["stub"], ["demo"], ["connect"], ["keys"], ["keys", "new"], ["admin"]]
ENV_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


def help_of(command: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "realtime_gateway", *command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def example_command_lines(help_text: str) -> list[list[str]]:
    """The `realtime-gateway ...` lines after "example", continuations joined, environment
    assignments and comments dropped."""
    example = help_text[help_text.index("example") :]
    joined = re.sub(r"\\\n\s*", " ", example)
    commands = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        while words and ENV_ASSIGNMENT.match(words[0]):
            words.pop(0)
        if words[:1] == ["realtime-gateway"]:
            commands.append(words[1:])
    return commands


@pytest.mark.parametrize("command", COMMANDS, ids=lambda words: " ".join(words) or "top")
def test_help_ends_with_an_example_that_parses(command: list[str]) -> None:
    text = help_of(command)
    assert f"usage: realtime-gateway {' '.join(command)}".rstrip() in text
    assert "\nexample" in text
    examples = example_command_lines(text)
    assert examples, f"no realtime-gateway command line in the example of {command}"
    if command:
        assert any(words[: len(command)] == command for words in examples)
    for words in examples:
        if "COMMAND" in words:
            continue  # the top-level example's placeholder
        args = build_parser().parse_args(words)
        assert callable(args.handler)


def test_connect_help_lists_the_exit_statuses_connect_returns() -> None:
    text = help_of(["connect"])
    listed = dict(
        (code, int(status))
        for status, code in re.findall(r"(\d+) ([a-z_]+)", text.split("exit status:")[1])
    )
    returned = {cls.error_code: status for cls, status in EXIT_CODES.items()}
    assert {code: listed[code] for code in returned} == returned
    assert listed["success"] == 0
