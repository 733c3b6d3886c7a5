"""Under a Python older than 3.9, ``python -m grader`` says so in one line, exit status 2
(README policy 12), whatever that interpreter can parse."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT

PYENV = Path("/root/.pyenv/versions")
OLD = ["2.7", "3.6", "3.7", "3.8"]


def _interpreter(version: str) -> Path:
    found = sorted(PYENV.glob(version + ".*/bin/python")) if PYENV.is_dir() else []
    if not found:
        pytest.skip("Python %s is not installed under %s" % (version, PYENV))
    return found[-1]


@pytest.mark.parametrize("version", OLD)
@pytest.mark.parametrize("args", [["server", "reference/server.py"], []])
def test_an_old_python_gets_one_line_and_status_2(version, args):
    python = _interpreter(version)
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([str(python), "-B", "-m", "grader"] + args, cwd=str(ROOT), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert done.returncode == 2
    assert done.stdout == b""
    assert done.stderr.decode() == "grader: needs Python 3.9 or newer; you are running %s\n" % version
