"""Checking the file to grade before anything runs: each problem gets a plain message."""
from __future__ import annotations

from pathlib import Path

PYTHON_SUFFIXES = (".py", ".pyw")
MAX_SOURCE_BYTES = 1 << 20


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
        with path.open("rb") as handle:
            source = handle.read(MAX_SOURCE_BYTES + 1)
    except OSError as exc:
        raise InputError("%s cannot be read: %s." % (path, exc.strerror or exc)) from None
    if len(source) > MAX_SOURCE_BYTES:
        raise InputError("%s is larger than 1 MB; that is not a lab program." % path)
    if not source.strip():
        raise InputError("%s is empty. Save your program into it first." % path)
    if b"\0" in source:
        raise InputError("%s is not a Python file (it holds binary data)." % path)
    if path.suffix.lower() not in PYTHON_SUFFIXES and not _is_python(source):
        raise InputError("%s is not a Python file: give the .py file with your program." % path)
    return source


def _is_python(source: bytes) -> bool:
    """Text that Python can compile: a .py file saved under another name (e.g. server.py.txt)."""
    try:
        compile(source, "<file>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True
