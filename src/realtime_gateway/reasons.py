"""One line that says why something failed: an exception's kind and its message, for error
messages and logs that keep the cause (shared by the gateway, the client and `connect`)."""

from __future__ import annotations


def describe(error: BaseException) -> str:
    """`ConnectError: [Errno 111] Connection refused`, white space folded to one line."""
    reason = " ".join(str(error).split())
    return f"{type(error).__name__}: {reason}" if reason else type(error).__name__
