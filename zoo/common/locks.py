"""One writer at a time: an exclusive ``flock`` on a file, refused at once (never waited for) with
the process that holds it, by pid and command. The kernel drops a ``flock`` when the process that
took it dies, however it dies, so a lock is never left behind by a killed run."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path


class Locked(RuntimeError):
    """The file is locked by another process (or by another open handle of this one)."""

    def __init__(self, message: str, pid: int | None = None, command: str | None = None):
        super().__init__(message)
        self.pid, self.command = pid, command


def lock_file(path: Path, refusal: str) -> int:
    """Open ``path`` read-write (created if absent) and lock it exclusively; returns the open file
    descriptor, which holds the lock until it is closed.

    A file that ``os.replace`` put at ``path`` while the lock was being taken is a new file, so the
    lock is checked to be on the file now at ``path`` (and taken again if not).

    Raises:
        Locked: another open handle holds the lock; the message is ``<path> is in use by <pid and
            command>`` followed by ``refusal`` (what to do).
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, command = holder(fd)
            os.close(fd)
            who = (f"process {pid} ({command or 'command not readable'})" if pid is not None
                   else "another process (its id is not readable here)")
            raise Locked(f"{path} is in use by {who}. {refusal}", pid, command) from None
        except BaseException:
            os.close(fd)
            raise
        if _same_file(fd, path):
            return fd
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)


def holder(fd: int) -> tuple[int | None, str | None]:
    """(pid, command line) of the process holding a ``flock`` on the file open as ``fd``, read from
    Linux's ``/proc/locks`` and ``/proc/<pid>/cmdline``; ``(None, None)`` where they are not readable."""
    st = os.fstat(fd)
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    found: list[tuple[bool, int]] = []
    try:
        with open("/proc/locks") as fh:
            for line in fh:
                # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; waiting requests have "->" after the id
                parts = line.split()
                if len(parts) < 6 or parts[1] != "FLOCK" or not parts[4].lstrip("-").isdigit():
                    continue
                if parts[5].rsplit(":", 1)[-1] == str(st.st_ino):
                    found.append((parts[5] != device, int(parts[4])))  # an exact device match first
    except OSError:
        return None, None
    if not found:
        return None, None
    pid = min(found)[1]
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        command = " ".join(raw.replace("\0", " ").split())
    except OSError:
        command = None
    return pid, (command[:300] if command else None)
