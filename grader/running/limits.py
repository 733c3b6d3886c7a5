"""A run's disk caps, and the watch that enforces them where no kernel mechanism does.

In the sandbox the run's directory is a tmpfs of ``DISK_LIMIT`` bytes and ``FILE_LIMIT`` files
(grader/running/sandbox_init.py): writing past it fails with ``OSError: [Errno 28] No space left on
device``, a plain error of the program's own.  Without the sandbox a plain user has no such
mechanism, so ``DiskWatch`` looks at the directory every ``WATCH_INTERVAL`` seconds and stops
the program once it holds more; ``DiskWatch.exceeded`` then says so for the report.
"""
from __future__ import annotations

import os
import stat
import threading
import time
from typing import Callable, List, Optional, Set, Tuple

# No lab program comes near these: it writes nothing, or a few small files.
DISK_LIMIT = 64 << 20  # bytes in the run's directory, all files together
FILE_LIMIT = 1000  # files, folders and links in it (the program's own copy counts)
WATCH_INTERVAL = 0.2  # seconds between two looks without the sandbox


def disk_use(folder: str, max_bytes: int = DISK_LIMIT,
             max_entries: int = FILE_LIMIT) -> Optional[Tuple[int, int]]:
    """(bytes, entries) under ``folder``, counting stops once past either limit, so a look
    costs at most ``max_entries`` + 1 entries however much the program wrote.  None when the
    folder is gone.  A folder the program made unreadable counts as one entry."""
    total = entries = 0
    pending = [folder]
    while pending:
        path = pending.pop()
        try:
            scan = os.scandir(path)
        except FileNotFoundError:
            if path == folder:
                return None
            continue  # removed meanwhile
        except OSError:
            continue  # unreadable
        with scan:
            for entry in scan:
                entries += 1
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(info.st_mode):
                    pending.append(entry.path)
                elif stat.S_ISREG(info.st_mode):
                    total += info.st_size
                if total > max_bytes or entries > max_entries:
                    return total, entries
    return total, entries


def over_limit(use: Tuple[int, int]) -> str:
    """What a report says of ``use`` when it is past a cap; "" when it is not."""
    written, entries = use
    if written > DISK_LIMIT:
        return "wrote more than %d MB in its folder" % (DISK_LIMIT >> 20)
    if entries > FILE_LIMIT:
        return "created more than %d files and folders" % FILE_LIMIT
    return ""


class DiskWatch:
    """Looks at a run's directory every ``WATCH_INTERVAL`` s; past a cap, calls ``stop_program``
    once and sets ``exceeded``.  One thread looks for every watch of the process (a batch runs
    dozens of programs at once; a thread each would cost a start per run and as many wake-ups)."""

    def __init__(self, folder: str, stop_program: Callable[[], None]):
        self.folder = folder
        self.exceeded = ""  # e.g. "wrote more than 64 MB in its folder"; "" while within the caps
        self._stop_program = stop_program
        self._lock = threading.Lock()

    def start(self) -> None:
        with _WATCHING_LOCK:
            _WATCHING.add(self)
            if not _LOOKER or not _LOOKER[0].is_alive():
                _LOOKER[:] = [threading.Thread(target=_look_at_all, name="disk-watch", daemon=True)]
                _LOOKER[0].start()

    def check(self, stop_program: bool = True) -> bool:
        """One look; whether watching is still of use."""
        with self._lock:
            if self.exceeded:
                return False
            use = disk_use(self.folder)
            if use is None:
                return False
            self.exceeded = over_limit(use)
            if self.exceeded:
                if stop_program:
                    self._stop_program()
                return False
            return True

    def stop(self) -> str:
        """Stop watching, after a last look (the program may have written its files between
        two looks and ended); returns ``exceeded``.  Call it before the directory is removed."""
        with _WATCHING_LOCK:
            _WATCHING.discard(self)
        self.check(stop_program=False)  # whoever stops watching stops the program too
        return self.exceeded


_WATCHING: Set[DiskWatch] = set()
_WATCHING_LOCK = threading.Lock()
_LOOKER: List[threading.Thread] = []  # the one looking thread, once started


def _look_at_all() -> None:
    """The looking thread: every ``WATCH_INTERVAL`` s, one look per watch; it ends when there
    is nothing left to watch (the next ``start`` starts another)."""
    while True:
        time.sleep(WATCH_INTERVAL)
        with _WATCHING_LOCK:
            watches = list(_WATCHING)
            if not watches:
                _LOOKER.clear()
                return
        for watch in watches:
            if not watch.check():
                with _WATCHING_LOCK:
                    _WATCHING.discard(watch)
