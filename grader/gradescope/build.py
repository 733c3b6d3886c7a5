"""``python -m grader gradescope build``: the autograder zip that Gradescope runs.

The zip holds ``setup.sh`` and ``run_autograder`` at its root, as Gradescope requires, and the
grader package beside them (with the student templates it compares against).  Gradescope copies
the zip to ``/autograder/source``; ``run_autograder`` runs the grader from there.
"""
from __future__ import annotations

import stat
import time
import zipfile
from pathlib import Path
from typing import Iterator, Tuple

import grader

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
# The grader needs only Python 3.9 or newer and its standard library.
set -eu
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
    apt-get update
    apt-get install -y python3
fi
# Students' programs run as this user, never as root: no password, no login shell, no home.
if ! id -u grader-student >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --home-dir /nonexistent \\
        --shell /usr/sbin/nologin grader-student
fi
# The grader's own files: readable by that user, writable by root only.
chown -R root:root /autograder/source
chmod -R go-w /autograder/source
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this as root for every submission: the files are in /autograder/submission and
# the results must go to /autograder/results/results.json.  The grader runs the student's
# programs as grader-student (made by setup.sh) and writes results.json itself, as root, once
# every process of that user is stopped.
chown -R root:root /autograder/source
chmod -R go-w /autograder/source
cd /autograder/source
python3 -m grader gradescope run --root /autograder && exit 0
# The grader failed before writing its results: say so, rather than leave nothing (or another's).
mkdir -p /autograder/results
temp=$(mktemp -p /autograder/results .results-XXXXXX) || exit 1
printf '%s\\n' '{"score": 0, "output": "The autograder failed before it could grade this submission. This is not a problem with your files: your instructor can see why in the autograder output.", "visibility": "visible", "tests": []}' > "$temp"
chmod 644 "$temp"
mv -f "$temp" /autograder/results/results.json
"""


def _package_files() -> Iterator[Tuple[Path, str]]:
    package = Path(grader.__file__).resolve().parent
    for path in sorted(p for p in package.rglob("*") if p.suffix in (".py", ".json")):  # + exercise.json
        if "__pycache__" not in path.parts:
            yield path, "grader/" + path.relative_to(package).as_posix()
    templates = package.parent / "student_template"
    if templates.is_dir():
        for path in sorted(templates.glob("*.py")):
            yield path, "student_template/" + path.name


def _add(zf: zipfile.ZipFile, name: str, data: bytes, mode: int) -> None:
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def build_autograder(dest: Path) -> Path:
    """Write the autograder zip to ``dest`` and return its path."""
    dest = Path(dest)
    if dest.parent:
        dest.parent.mkdir(parents=True, exist_ok=True)
    temp = dest.with_name(f".{dest.name}.tmp")
    with zipfile.ZipFile(temp, "w") as zf:
        _add(zf, "setup.sh", SETUP_SH.encode(), 0o755)
        _add(zf, "run_autograder", RUN_AUTOGRADER.encode(), 0o755)
        for path, name in _package_files():
            _add(zf, name, path.read_bytes(), 0o644)
    temp.replace(dest)
    return dest
