"""Shared test helpers: the fixture corpus and its declared verdicts; no leftover processes."""
from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List

import pytest

from grader.exercises import selftest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@dataclass
class Fixture:
    role: str
    path: Path
    expect: Dict[str, str]  # check id -> passed / failed / skipped
    hints: Dict[str, List[str]] = field(default_factory=dict)  # check id -> substrings of the hint
    timeout: float = 5.0

    @property
    def name(self) -> str:
        return self.path.stem if self.path.name != self.role + ".py" else self.path.parent.name


def parse_fixture(role: str, path: Path) -> Fixture:
    """Read the ``expect:``, ``hints:`` and ``options:`` lines of a fixture's docstring, with the
    parser ``python -m grader selftest`` uses."""
    program = selftest.parse_fixture(role, path)
    return Fixture(role, path, dict(program.expect), dict(program.hints),
                   program.timeout if program.timeout is not None else 5.0)


def all_fixtures(role: str) -> List[Fixture]:
    folder = FIXTURES / role
    paths = sorted(p for p in folder.glob("*.py")) + sorted(folder.glob("*/%s.py" % role))
    return [parse_fixture(role, p) for p in paths]


@contextlib.contextmanager
def descriptors_taken_past(number: int):
    """Open descriptors until the next one is above ``number`` (a batch with many gradings open
    reaches such numbers), raising the soft limit for it where needed."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = number + 64
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip("the descriptor limit here (%d) is too low for this test" % hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    taken = []
    try:
        while not taken or taken[-1] <= number:
            taken.append(os.open(os.devnull, os.O_RDONLY))
        yield
    finally:
        for fd in taken:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# Every process this test session starts inherits this variable, so leftovers can be told
# apart from other gradings running on the same machine.
TEST_SESSION = "GRADER_TEST_SESSION=%s" % uuid.uuid4().hex
os.environ[TEST_SESSION.split("=")[0]] = TEST_SESSION.split("=")[1]


def grader_processes() -> List[int]:
    """PIDs of live processes the grader started during this test session (Linux only)."""
    from grader.running.processes import MARKER_VARIABLE

    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % entry, "rb") as handle:
                environ = handle.read().split(b"\0")
                if TEST_SESSION.encode() in environ and \
                        any(v.startswith((MARKER_VARIABLE + "=").encode()) for v in environ):
                    with open("/proc/%s/stat" % entry, "rb") as stat:
                        data = stat.read()
                    if data[data.rindex(b")") + 2:][:1] != b"Z":
                        found.append(int(entry))
        except OSError:
            continue
    return found


@pytest.fixture(autouse=True, scope="session")
def no_process_survives_the_suite():
    yield
    leftovers = grader_processes()
    assert not leftovers, "processes started by the grader survived the suite: %s" % leftovers
