"""``python -m grader gradescope build``: the autograder zip that Gradescope runs.

The zip holds ``setup.sh`` and ``run_autograder`` at its root, as Gradescope requires, the
visibility settings beside them (``gradescope.json``, see ``visibility.py``, which also names the
exercise graded when it is not Hello World) and the grader package (with the shipped exercises
and the student templates it compares against).  An exercise from a folder outside the grader
(``--exercise ~/course/labs/greeting``) is packed as ``exercise/``: its exercise.json, its Python
files (checks.py) and its templates.  Gradescope copies the zip to
``/autograder/source``; ``run_autograder`` runs the grader from there.

The grader needs Python 3.9+.  Gradescope's base images: Ubuntu 22.04 (the default) and 24.04
have it as ``python3``; Ubuntu 20.04 has 3.8 as ``python3`` and ``python3.9`` in apt (universe),
which ``setup.sh`` installs; Ubuntu 18.04 has 3.6 and no 3.9+ in its archive.  Where none can
be had, ``setup.sh`` still succeeds (with a warning in the build output) and ``run_autograder``
writes a ``results.json`` that tells the instructor which base image to choose, written with
the shell alone, since there is no Python to write it.  Both scripts take the autograder folder
from ``$GRADER_AUTOGRADER_ROOT`` (default ``/autograder``), so tests run them in a temp folder.
"""
from __future__ import annotations

import json
import stat
import time
import zipfile
from pathlib import Path
from typing import Iterator, Tuple

import grader
from grader.exercises.default import HELLO_WORLD, Exercise
from grader.exercises.loader import FILE_NAME, SHIPPED
from grader.integrations.gradescope.visibility import CONFIG_NAME, Settings

PACKED_EXERCISE = "exercise"  # in /autograder/source: an exercise from outside the grader
PYTHON_RECORD = "python-path"  # in /autograder/source: the interpreter setup.sh chose
_GOOD_IMAGE = "Ubuntu 22.04 (or 24.04)"

# Shared by both scripts: the first Python 3.9+ on PATH.  The version test prints a word
# rather than trusting an exit status, so an old or fake interpreter never passes by accident.
_FIND_PYTHON = r"""usable() {
    [ -n "$1" ] && [ "$("$1" -c 'import sys; print("ok" if sys.version_info >= (3, 9) else "old")' 2>/dev/null)" = ok ]
}
find_python() {
    for name in python3 python3.13 python3.12 python3.11 python3.10 python3.9; do
        candidate=$(command -v "$name" 2>/dev/null) || continue
        if usable "$candidate"; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    return 1
}
"""

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
# The grader needs only Python 3.9 or newer and its standard library.
set -eu
root=${GRADER_AUTOGRADER_ROOT:-/autograder}
""" + _FIND_PYTHON + r"""
python=$(find_python) || python=""
if [ -z "$python" ]; then
    # Ubuntu 20.04 has python3.9 in its archive; newer images have a 3.9+ python3 already.
    apt-get update || true
    for package in python3.9 python3.10 python3.11 python3.12; do
        if apt-cache show "$package" >/dev/null 2>&1 &&
                apt-get install -y --no-install-recommends "$package"; then
            break
        fi
    done
    python=$(find_python) || python=""
fi
if [ -n "$python" ]; then
    printf '%s\n' "$python" > "$root/source/@RECORD@"
    echo "grader: using $python ($("$python" --version 2>&1))"
else
    rm -f "$root/source/@RECORD@"
    echo "WARNING: no Python 3.9 or newer can be installed on this base image, so the grader"
    echo "cannot run: every submission will get a result that says so. In the autograder"
    echo "settings choose the base image @IMAGE@ and build again."
fi
# Students' programs run as this user, never as root: no password, no login shell, no home.
if ! id -u grader-student >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin grader-student
fi
# The grader's own files: readable by that user, writable by root only.
chown -R root:root "$root/source"
chmod -R go-w "$root/source"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this as root for every submission: the files are in /autograder/submission and
# the results must go to /autograder/results/results.json.  The grader runs the student's
# programs as grader-student (made by setup.sh) and writes results.json itself, as root, once
# every process of that user is stopped.
root=${GRADER_AUTOGRADER_ROOT:-/autograder}
""" + _FIND_PYTHON + r"""
write_results() {  # JSON made at build time; only digits and dots are put into it here
    mkdir -p "$root/results"
    temp=$(mktemp -p "$root/results" .results-XXXXXX) || exit 1
    printf '%s%s%s\n' "$1" "$2" "$3" > "$temp"
    chmod 644 "$temp"
    mv -f "$temp" "$root/results/results.json"
}
chown -R root:root "$root/source"
chmod -R go-w "$root/source"
python=""
if [ -r "$root/source/@RECORD@" ]; then
    read -r python < "$root/source/@RECORD@" || true
fi
usable "$python" || python=$(find_python) || python=""
if [ -z "$python" ]; then
    found=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null |
        tr -cd '0-9.' | head -c 12)
    echo "grader: no Python 3.9 or newer here (python3: ${found:-none});" \
        "choose the base image @IMAGE@"
    write_results @NO_PYTHON@
    exit 0
fi
cd "$root/source" || exit 1
"$python" -m grader gradescope run --root "$root" && exit 0
# The grader failed before writing its results: say so, rather than leave nothing (or another's).
write_results @FAILED@ '' ''
"""

_NO_PYTHON_MESSAGE = (
    "NOT A GRADE: this submission was not graded. The autograder needs Python 3.9 or newer, and "
    "the base image of this assignment's autograder has none (python3 there: {found}). "
    "Instructor: on the Configure Autograder page choose the base image " + _GOOD_IMAGE + ", "
    "update the autograder, then regrade all submissions. Students: you do not need to submit "
    "again; your instructor will regrade.")
_FAILED_MESSAGE = (
    "The autograder failed before it could grade this submission. This is not a problem with your "
    "files: your instructor can see why in the autograder output.")


def _shell_word(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _results_words(message: str) -> str:
    """Three shell words whose concatenation, with what replaces ``{found}`` between the first
    and the last, is a results.json (valid JSON: only digits and dots go in between)."""
    document = json.dumps({"score": 0.0, "output": message, "output_format": "text",
                           "visibility": "visible", "stdout_visibility": "hidden", "tests": []},
                          ensure_ascii=True)
    before, _, after = document.partition("{found}")
    return f'{_shell_word(before)} "${{found:-none}}" {_shell_word(after)}' if after else \
        _shell_word(before)


def setup_script() -> str:
    return SETUP_SH.replace("@RECORD@", PYTHON_RECORD).replace("@IMAGE@", _GOOD_IMAGE)


def run_script() -> str:
    return (RUN_AUTOGRADER.replace("@RECORD@", PYTHON_RECORD).replace("@IMAGE@", _GOOD_IMAGE)
            .replace("@NO_PYTHON@", _results_words(_NO_PYTHON_MESSAGE))
            .replace("@FAILED@", _results_words(_FAILED_MESSAGE)))


def _package_files() -> Iterator[Tuple[Path, str]]:
    package = Path(grader.__file__).resolve().parent
    for path in sorted(p for p in package.rglob("*") if p.suffix in (".py", ".json")):  # + exercise.json
        if "__pycache__" not in path.parts:
            yield path, "grader/" + path.relative_to(package).as_posix()
    templates = package.parent / "student_template"  # Hello World's, and a folder per exercise
    if templates.is_dir():
        for path in sorted(templates.rglob("*.py")):
            if "__pycache__" not in path.parts:
                yield path, "student_template/" + path.relative_to(templates).as_posix()


def _exercise_files(exercise: Exercise) -> Iterator[Tuple[str, bytes]]:
    """An exercise from outside the grader, as files of ``exercise/``: its Python files, its
    templates (copied in when they lie outside its folder) and its exercise.json, pointing at
    them.  What grading does not use (references, fixtures) stays out."""
    folder = Path(exercise.folder)
    data = json.loads((folder / FILE_NAME).read_text(encoding="utf-8"))
    for path in sorted(folder.glob("*.py")):
        yield f"{PACKED_EXERCISE}/{path.name}", path.read_bytes()
    for role, template in sorted(exercise.files.get("template", {}).items()):
        path = Path(template)
        if not path.is_file():
            continue
        inside = path.parent == folder
        name = path.name if inside else f"template-{role}.py"
        if not inside:
            yield f"{PACKED_EXERCISE}/{name}", path.read_bytes()
        data.setdefault("template", {})[role] = name
    definition = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    yield f"{PACKED_EXERCISE}/{FILE_NAME}", definition.encode()


def _is_shipped(exercise: Exercise) -> bool:
    return Path(exercise.folder).resolve().parent == Path(SHIPPED).resolve()


def _add(zf: zipfile.ZipFile, name: str, data: bytes, mode: int) -> None:
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def build_autograder(dest: Path, settings: Settings = Settings(),
                     exercise: Exercise = HELLO_WORLD) -> Path:
    """Write the autograder zip that grades ``exercise`` to ``dest`` and return its path."""
    dest = Path(dest)
    shipped = _is_shipped(exercise)
    if shipped:  # packed with the grader: found by its name
        settings = settings._replace(exercise="" if exercise.id == HELLO_WORLD.id else exercise.id)
    else:
        settings = settings._replace(exercise=PACKED_EXERCISE)  # relative to gradescope.json
    if dest.parent:
        dest.parent.mkdir(parents=True, exist_ok=True)
    temp = dest.with_name(f".{dest.name}.tmp")
    with zipfile.ZipFile(temp, "w") as zf:
        _add(zf, "setup.sh", setup_script().encode(), 0o755)
        _add(zf, "run_autograder", run_script().encode(), 0o755)
        _add(zf, CONFIG_NAME, settings.to_json().encode(), 0o644)
        for path, name in _package_files():
            _add(zf, name, path.read_bytes(), 0o644)
        if not shipped:
            for name, data in _exercise_files(exercise):
                _add(zf, name, data, 0o644)
    temp.replace(dest)
    return dest
