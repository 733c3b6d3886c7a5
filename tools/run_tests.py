"""Install the test dependencies into a virtual environment of the checkout, and run the tests.

    python3 tools/run_tests.py [PYTEST ARGUMENTS]

Debian's and Ubuntu's own Python refuse ``pip install`` outside a virtual environment
(``externally-managed-environment``), and a fresh Debian may not have pip or ensurepip at all.
So the tests always run in ``.venv/`` beside this folder (``GRADER_TEST_VENV`` names another),
made with the standard library's ``venv``. Where the Python has no ensurepip (Debian without
``python3-venv``), pip comes from the system's pip if there is one, or else from pip's own wheel,
downloaded from PyPI and checked against the hash PyPI publishes for it.

Standard library only, Python 3.9+: this is what runs before anything is installed.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPI_PIP = "https://pypi.org/pypi/pip/json"


def say(text: str) -> None:
    print(f"run_tests: {text}", file=sys.stderr, flush=True)


def venv_python(folder: Path) -> Path:
    return folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def has_module(python: Path, module: str) -> bool:
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([str(python), "-c", probe], capture_output=True).returncode == 0


def has_ensurepip() -> bool:
    try:
        import ensurepip  # noqa: F401  (Debian strips it out of python3 without python3-venv)
    except ImportError:
        return False
    return True


def pip_wheel(scratch: Path) -> Path:
    """pip's newest universal wheel from PyPI, checked against PyPI's published sha256."""
    with urllib.request.urlopen(PYPI_PIP, timeout=60) as answer:
        release = json.load(answer)
    wheel = next(f for f in release["urls"] if f["filename"].endswith("-py3-none-any.whl"))
    target = scratch / wheel["filename"]
    # A mirror in front of PyPI may answer with addresses relative to the JSON's own.
    url = urllib.parse.urljoin(PYPI_PIP, wheel["url"])
    with urllib.request.urlopen(url, timeout=120) as answer:
        data = answer.read()
    if hashlib.sha256(data).hexdigest() != wheel["digests"]["sha256"]:
        raise SystemExit(f"run_tests: {wheel['filename']} from PyPI does not match its published hash")
    target.write_bytes(data)
    return target


def give_pip(python: Path) -> None:
    """Put pip into a virtual environment made without it."""
    system_pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True)
    if system_pip.returncode == 0:
        say("installing pip into the virtual environment with the system's pip")
        done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                               "--quiet", "pip"])
        if done.returncode == 0 and has_module(python, "pip"):
            return
    say("installing pip into the virtual environment from pip's wheel on PyPI")
    with tempfile.TemporaryDirectory(prefix="run-tests-pip-") as scratch:
        wheel = pip_wheel(Path(scratch))
        # A pip wheel runs as a zip application: pip installs itself from its own wheel.
        subprocess.run([str(python), f"{wheel}/pip", "install", "--quiet", "--no-index", str(wheel)],
                       check=True)


def make_venv(folder: Path) -> Path:
    python = venv_python(folder)
    if python.exists() and has_module(python, "pip"):
        return python
    with_pip = has_ensurepip()
    say(f"making a virtual environment in {folder}")
    venv.EnvBuilder(with_pip=with_pip, clear=python.exists()).create(folder)
    if not has_module(python, "pip"):
        give_pip(python)
    return python


def main(argv: list) -> int:
    if sys.version_info < (3, 9):
        say(f"needs Python 3.9 or newer; you are running {sys.version_info[0]}.{sys.version_info[1]}")
        return 2
    folder = Path(os.environ.get("GRADER_TEST_VENV") or ROOT / ".venv")
    python = make_venv(folder)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-e", f"{ROOT}[test]"], check=True, cwd=ROOT)
    return subprocess.run([str(python), "-m", "pytest", *argv], cwd=ROOT).returncode


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except subprocess.CalledProcessError as error:
        say(f"{' '.join(map(str, error.cmd))} failed with exit status {error.returncode}")
        sys.exit(error.returncode or 1)
    except KeyboardInterrupt:
        sys.exit(130)
