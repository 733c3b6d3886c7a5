"""What of the grader's environment a student's program gets, and the rest of its environment.

Shared by the launcher and the sandbox's fork server (which must not import each other).
"""
from __future__ import annotations

import os
from typing import Dict

from grader.running import processes

# What of the grader's environment a program gets: what its interpreter needs to start (PATH,
# the loader's path, on Windows what the C runtime and sockets need), the locale, and the test
# suite's own markers.  Nothing else of the TA's (tokens, cloud keys), and no PYTHON* variable:
# the interpreter is sys.executable, which finds its installation and a venv (pyvenv.cfg) by
# itself.  Names are compared in upper case (Windows spells them as it likes).
_KEPT_VARIABLES = frozenset(("PATH", "LANG", "LANGUAGE", "TZ", "LD_LIBRARY_PATH", "SYSTEMROOT",
                             "SYSTEMDRIVE", "WINDIR", "COMSPEC", "PATHEXT", "PROCESSOR_ARCHITECTURE"))
_KEPT_PREFIXES = ("LC_", "GRADER_TEST_")


def base_environment() -> Dict[str, str]:
    """The part of the grader's environment every program gets (``_KEPT_VARIABLES``)."""
    return {name: value for name, value in os.environ.items()
            if name.upper() in _KEPT_VARIABLES or name.upper().startswith(_KEPT_PREFIXES)}


def program_environment(workdir: str, probe_channel: str, marker: str) -> Dict[str, str]:
    """A program's whole environment: ``base_environment()``, its own directory as home and
    temporary folder, and the probe's variables."""
    env = base_environment()
    for name in (("USERPROFILE", "TEMP", "TMP") if processes.IS_WINDOWS else ("HOME", "TMPDIR")):
        env[name] = workdir
    env.update({
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "GRADER_PROBE": probe_channel,  # the event and control pipes
        processes.MARKER_VARIABLE: marker,
    })
    return env
