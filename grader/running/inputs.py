"""Checking the file to grade before anything runs: each problem gets a plain message."""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Callable, Optional

PYTHON_SUFFIXES = (".py", ".pyw")
MAX_SOURCE_BYTES = 1 << 20
# Above this, the grader does not compile a file to see whether it is Python: a long odd source
# costs it hundreds of MB and a noticeable time, and no lab program is anywhere near this size.
MAX_ANALYSED_BYTES = 100_000


class InputError(Exception):
    """The file to grade cannot be graded at all (missing, a directory, empty, not Python).

    The message is shown to the user as it is, so it must read as plain advice.
    """


def read_program(path: Path) -> bytes:
    """The source bytes of ``path``, or ``InputError`` saying why it cannot be graded."""
    if not path.exists():
        raise InputError("There is no file %s. Check the name and the folder you are in." % path)
    if path.is_dir():
        raise InputError("%s is a folder. Give the Python file inside it, e.g. %s."
                         % (path, path / "server.py"))
    if path.suffix.lower() == ".ipynb":
        raise InputError("%s is a Jupyter notebook. Save your code as a .py file "
                         "(File > Download as > Python) and grade that." % path)
    try:
        source = read_regular_file(path, MAX_SOURCE_BYTES + 1)
    except OSError as exc:
        raise InputError("%s cannot be read: %s." % (path, exc.strerror or exc)) from None
    if source is None:
        raise InputError("%s is not a regular file (a device or a pipe, say): give the .py file "
                         "with your program." % path)
    if len(source) > MAX_SOURCE_BYTES:
        raise InputError("%s is larger than 1 MB; that is not a lab program." % path)
    if not source.strip():
        raise InputError("%s is empty. Save your program into it first." % path)
    # Text with a stray NUL byte is graded (Python itself says what is wrong, as it would on
    # the student's computer); NUL bytes in what is not even UTF-8 text are a binary file.
    if b"\0" in source and (path.suffix.lower() not in PYTHON_SUFFIXES or not _is_utf8(source)):
        raise InputError("%s is not a Python file (it holds binary data)." % path)
    if path.suffix.lower() not in PYTHON_SUFFIXES and len(source) > MAX_ANALYSED_BYTES:
        raise InputError("%s is not named .py and is too big (over 100 kB) to be a lab program: "
                         "give the .py file with your program." % path)
    if path.suffix.lower() not in PYTHON_SUFFIXES and not _is_python(source):
        raise InputError("%s is not a Python file: give the .py file with your program." % path)
    return source


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def read_regular_file(path, limit: int, *, follow: bool = True, dir_fd: Optional[int] = None,
                      check: Optional[Callable[[int], None]] = None) -> Optional[bytes]:
    """Up to ``limit`` bytes of ``path``, read from one opening, so what is checked is what is
    read; None when it is not a regular file.  ``OSError`` when it cannot be opened or read.

    O_NONBLOCK: opening a named pipe must not wait.  ``follow=False``: a link at the end of the
    path is refused (O_NOFOLLOW).  ``dir_fd``: ``path`` is relative to that open folder.
    ``check(fd)`` may refuse the opened file (by raising) before anything is read."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | (0 if follow else _NOFOLLOW)
    fd = os.open(str(path), flags, dir_fd=dir_fd) if dir_fd is not None else os.open(str(path), flags)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        if check is not None:
            check(fd)
        return handle.read(limit)


def _is_utf8(source: bytes) -> bool:
    try:
        source.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_python(source: bytes) -> bool:
    """Text that Python can compile: a .py file saved under another name (e.g. server.py.txt).

    Never raises: the grader's own compile of odd source can fail in many ways (a 200 KB
    "x = ----1" is a MemoryError, a long "1 + 1 + ..." a RecursionError)."""
    import warnings

    try:
        with warnings.catch_warnings():  # the student's warnings are not the grader's to print
            warnings.simplefilter("ignore")
            compile(source, "<file>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError):
        return False
    return True
