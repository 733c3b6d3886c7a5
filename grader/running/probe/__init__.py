"""The probe's files: the bootstrap a program's interpreter runs, and its compiled copy.

Shared by the launcher and the sandbox (which runs its own init compiled the same way), so that
neither imports the other.  ``bootstrap.py`` itself runs in the student's process and imports
nothing of the grader.
"""
from __future__ import annotations

import os
import shutil
import threading
from typing import Dict, Optional

from grader.running import tempdirs

BOOTSTRAP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap.py")

_COMPILED: Dict[str, Optional[str]] = {}  # source file -> its compiled copy (None: could not)
_COMPILED_LOCK = threading.Lock()


def compile_probe() -> None:
    """For a process that starts many programs (batch mode): compile the probe once, and run
    the programs started from then on under the compiled copy instead of each compiling its
    600 lines again (about 9 ms of CPU per program here).  Not worth it for one program."""
    compiled(BOOTSTRAP)


def probe_script() -> str:
    """The file the program's interpreter runs: the probe's compiled copy when there is one."""
    return _COMPILED.get(BOOTSTRAP) or BOOTSTRAP


def compiled(source: str) -> Optional[str]:
    """``source`` compiled, once per grader process, into a private temporary folder that is
    removed at exit (``python FILE.pyc`` runs compiled code as it is); None if that cannot be
    done, e.g. on a full disk: then run the source."""
    with _COMPILED_LOCK:
        if source not in _COMPILED:
            _COMPILED[source] = _compile(source)
        return _COMPILED[source]


def _compile(source: str) -> Optional[str]:
    import atexit
    import py_compile

    folder = None
    try:
        folder = tempdirs.make("compiled")
        target = os.path.join(folder, os.path.splitext(os.path.basename(source))[0] + ".pyc")
        target = py_compile.compile(source, cfile=target, doraise=True)
        # Readable by all, like the source: a sandboxed program runs as another user (nobody).
        os.chmod(folder, 0o755)
        os.chmod(target, 0o644)
    except (OSError, py_compile.PyCompileError):
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
        return None
    atexit.register(shutil.rmtree, folder, True)
    return target
