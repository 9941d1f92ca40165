"""The demo tenant key: kept in the user's state directory (0600), stable, rotated on request."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from realtime_gateway.demo_key import KEY_FILE_NAME, demo_key, state_directory


def test_same_key_on_the_second_run_and_a_new_one_on_rotation(tmp_path: Path) -> None:
    first = demo_key(directory=tmp_path)
    assert demo_key(directory=tmp_path) == first
    rotated = demo_key(rotate=True, directory=tmp_path)
    assert rotated != first
    assert demo_key(directory=tmp_path) == rotated


def test_key_file_is_private_to_the_user(tmp_path: Path) -> None:
    key = demo_key(directory=tmp_path / "fresh")
    path = tmp_path / "fresh" / KEY_FILE_NAME
    assert path.read_text().strip() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    assert demo_key(directory=tmp_path / "fresh") == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("stored", ["", "short", "x" * 31 + "!", "\xff\xfe"])
def test_a_malformed_stored_key_is_replaced(tmp_path: Path, stored: str) -> None:
    (tmp_path / KEY_FILE_NAME).write_text(stored, encoding="latin-1")
    key = demo_key(directory=tmp_path)
    assert key != stored and len(key) == 32
    assert demo_key(directory=tmp_path) == key


def test_state_directory_follows_xdg_state_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert state_directory() == tmp_path / "realtime-gateway"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert state_directory() == tmp_path / "home" / ".local" / "state" / "realtime-gateway"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert state_directory() == tmp_path / "home" / ".local" / "state" / "realtime-gateway"
