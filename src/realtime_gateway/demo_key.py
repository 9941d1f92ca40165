"""The demo tenant's key, kept in the user's state directory so it survives restarts.

The UI stores the key it was given in `localStorage`; a key that changed on every `demo` run made
each second run start with a 401. The file is `$XDG_STATE_HOME/realtime-gateway/demo-key`
(`~/.local/state/...` without XDG_STATE_HOME), mode 0600; `demo --new-key` replaces it.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

KEY_FILE_NAME = "demo-key"
# What `new_demo_key` makes: URL-safe base64 of 24 random bytes. Anything else in the file
# (empty, truncated, edited by hand) is replaced rather than trusted.
_WELL_FORMED = re.compile(r"[A-Za-z0-9_-]{32}")


def state_directory() -> Path:
    """`$XDG_STATE_HOME/realtime-gateway`, or `~/.local/state/realtime-gateway`."""
    base = os.environ.get("XDG_STATE_HOME") or ""
    # The XDG spec says a relative path in the variable is invalid and is to be ignored.
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "realtime-gateway"


def new_demo_key() -> str:
    return secrets.token_urlsafe(24)


def demo_key(*, rotate: bool = False, directory: Path | None = None) -> str:
    """The stored demo key; a fresh one, stored, if there is none, it is malformed or `rotate`."""
    path = (directory or state_directory()) / KEY_FILE_NAME
    if not rotate:
        try:
            stored = path.read_text(encoding="ascii").strip()
        except (FileNotFoundError, UnicodeDecodeError):
            stored = ""
        if _WELL_FORMED.fullmatch(stored):
            os.chmod(path, 0o600)  # an older copy may have been made looser by hand
            return stored
    key = new_demo_key()
    _write_private(path, key)
    return key


def _write_private(path: Path, key: str) -> None:
    """Writes `key` to `path` readable by the user only, atomically (a crash leaves the old key)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(key + "\n")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
