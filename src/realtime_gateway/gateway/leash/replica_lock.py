"""One reaper per replica: the workers of one `serve` elect it with a lock file (`flock`),
which the kernel lets go the moment its holder dies, so another worker takes over at once and
no Redis command is spent on the election. The supervisor names the file for its workers
(`REALTIME_GATEWAY_REAPER_LOCK`); a process started alone runs its reaper unconditionally."""

from __future__ import annotations

import fcntl
import os

LOCK_ENV = "REALTIME_GATEWAY_REAPER_LOCK"


class ReplicaLock:
    def __init__(self, path: str | None) -> None:
        self._path = path
        self._fd: int | None = None

    @classmethod
    def from_environment(cls) -> ReplicaLock:
        return cls(os.environ.get(LOCK_ENV))

    def try_take(self) -> bool:
        """True once this process holds the lock (always, without a lock file)."""
        if self._path is None or self._fd is not None:
            return True
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
