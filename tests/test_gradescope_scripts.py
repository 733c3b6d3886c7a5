"""setup.sh and run_autograder on the interpreters Gradescope's base images have.

Each script runs in a fake /autograder ($GRADER_AUTOGRADER_ROOT) with a PATH of its own: the
few tools the scripts use, fakes of apt-get / apt-cache / useradd / id / chown that only record
their arguments, and as ``python3`` whatever the image would have (an old real interpreter from
pyenv, a script that only claims to be one, or none).
"""
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from grader.integrations.gradescope.build import PYTHON_RECORD, build_autograder
from test_gradescope import AS_ROOT, cli

PYENV = Path("/root/.pyenv/versions")
TOOLS = ("bash", "env", "mkdir", "mktemp", "chmod", "mv", "cat", "tr", "head", "rm", "sh", "ln")
RECORDER = '#!/bin/sh\necho "${0##*/} $*" >> "$CALLS"\n'


def _old(version: str) -> Path:
    found = sorted(PYENV.glob(version + ".*/bin/python3"))
    if not found:
        pytest.skip(f"no Python {version} under {PYENV}")
    return found[-1]


class Image:
    """A fake base image: /autograder with the unpacked zip, and a bin folder as PATH."""

    def __init__(self, tmp_path: Path, apt_has=None):
        self.root = tmp_path / "autograder"
        self.bin = tmp_path / "bin"
        self.calls = tmp_path / "calls.txt"
        self.bin.mkdir()
        self.calls.touch()
        with zipfile.ZipFile(build_autograder(tmp_path / "autograder.zip")) as zf:
            zf.extractall(self.root / "source")
        (self.root / "submission").mkdir()
        for tool in TOOLS:
            (self.bin / tool).symlink_to(shutil.which(tool))
        for fake in ("useradd", "chown", "apt-get"):
            self.script(fake, RECORDER)
        self.script("id", RECORDER + "exit 1\n")  # no grader-student yet: setup.sh makes it
        # apt-cache knows a package only when the test says the image's archive has it; then
        # "apt-get install" puts it on PATH as a link to a real interpreter.
        known = " ".join(apt_has or {})
        self.script("apt-cache", RECORDER + f'for p in {known}; do [ "$2" = "$p" ] && exit 0; done; exit 100\n')
        if apt_has:
            cases = "".join(f'  *" {name}") ln -s {target} "{self.bin}/{name}" ;;\n'
                            for name, target in apt_has.items())
            self.script("apt-get", RECORDER + f'case " $*" in\n{cases}esac\n')

    def script(self, name: str, text: str) -> None:
        path = self.bin / name
        if path.exists() or path.is_symlink():
            path.unlink()
        path.write_text(text)
        path.chmod(0o755)

    def python3(self, target) -> None:
        (self.bin / "python3").symlink_to(target)

    def run(self, script: str, **env) -> subprocess.CompletedProcess:
        environment = {"PATH": str(self.bin), "GRADER_AUTOGRADER_ROOT": str(self.root),
                       "CALLS": str(self.calls), **env}
        return subprocess.run([str(self.bin / "bash"), str(self.root / "source" / script)],
                              env=environment, capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)

    def results(self) -> dict:
        return json.loads((self.root / "results" / "results.json").read_text(encoding="utf-8"))

    @property
    def recorded(self) -> str:
        record = self.root / "source" / PYTHON_RECORD
        return record.read_text().strip() if record.exists() else ""


def _says_no_python(image: Image, version: str) -> None:
    data = image.results()
    assert data["tests"] == [] and data["score"] == 0
    assert data["output"].startswith("NOT A GRADE") and "Ubuntu 22.04" in data["output"]
    assert f"(python3 there: {version})" in data["output"]
    assert sorted(p.name for p in (image.root / "results").iterdir()) == ["results.json"]


FAKE_36 = '#!/bin/sh\necho "Python 3.6.9"\n'  # claims a version whatever it is asked


@pytest.mark.parametrize("python3, version", [
    ("3.6", "3.6"), ("3.7", "3.7"), ("3.8", "3.8"), ("fake", "3.6.9"), (None, "none")])
def test_an_image_without_python_39_gets_a_result_that_says_so(tmp_path, python3, version):
    image = Image(tmp_path)  # Ubuntu 18.04: nothing newer in apt
    if python3 == "fake":
        image.script("python3", FAKE_36)
    elif python3:
        image.python3(_old(python3))
    setup = image.run("setup.sh")
    assert setup.returncode == 0, setup.stderr  # the image builds; the warning is in its log
    assert "WARNING: no Python 3.9 or newer" in setup.stdout and "Ubuntu 22.04" in setup.stdout
    assert "apt-get update" in image.calls.read_text() and image.recorded == ""
    assert "useradd" in image.calls.read_text()
    run = image.run("run_autograder")
    assert run.returncode == 0, run.stderr
    assert "no Python 3.9 or newer" in run.stdout
    _says_no_python(image, version)


def test_ubuntu_2004_gets_python39_from_apt_and_run_autograder_uses_it(tmp_path):
    python39 = _old("3.9")
    image = Image(tmp_path, apt_has={"python3.9": python39})
    image.python3(_old("3.8"))
    setup = image.run("setup.sh")
    assert setup.returncode == 0, setup.stderr
    assert "install -y --no-install-recommends python3.9" in image.calls.read_text()
    assert image.recorded == str(image.bin / "python3.9") and "Python 3.9" in setup.stdout
    _grades_an_empty_submission(image, tmp_path)


def test_an_image_with_python3_new_enough_installs_nothing(tmp_path):
    image = Image(tmp_path)
    python, env = cli()
    image.python3(python)
    setup = image.run("setup.sh")
    assert setup.returncode == 0, setup.stderr
    assert "apt-get" not in image.calls.read_text() and image.recorded == str(image.bin / "python3")
    _grades_an_empty_submission(image, tmp_path)


def _grades_an_empty_submission(image: Image, tmp_path: Path) -> None:
    """run_autograder runs the grader of the zip with the recorded interpreter: an empty
    submission is graded (quickly: there is nothing to run) and each program is reported missing."""
    env = {"GRADER_STUDENT_USER": cli()[1]["GRADER_STUDENT_USER"]} if AS_ROOT else {}
    run = image.run("run_autograder", **env)
    assert run.returncode == 0, run.stdout + run.stderr
    data = image.results()
    assert data["score"] == 0 and len(data["tests"]) == 16
    assert "No server program was found" in data["output"]


def test_a_recorded_interpreter_that_went_away_is_looked_for_again(tmp_path):
    image = Image(tmp_path)
    (image.root / "source" / PYTHON_RECORD).write_text("/nowhere/python3.9\n")
    image.script("python3", FAKE_36)
    run = image.run("run_autograder")
    assert run.returncode == 0
    _says_no_python(image, "3.6.9")


def test_when_the_grader_itself_fails_the_result_says_it_is_not_the_students_fault(tmp_path):
    image = Image(tmp_path)
    # New enough by its answer to the version test, then killed when asked to grade.
    image.script("python3", '#!/bin/sh\ncase "$1" in -c) echo ok ;; *) kill -9 $$ ;; esac\n')
    (image.root / "results").mkdir()
    (image.root / "results" / "results.json").write_text('{"score": 1000}')  # a program's
    run = image.run("run_autograder")
    assert run.returncode == 0
    data = image.results()
    assert data["score"] == 0 and "not a problem with your files" in data["output"]
