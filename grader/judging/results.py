"""What a grading produces: check results and the report.

Everything here is a small frozen value; ``Report.to_dict()`` is the JSON form that every
other output (text, JUnit, Gradescope, gradebooks) is rendered from.
"""
from __future__ import annotations

import enum
from typing import Any, Dict, NamedTuple, Optional, Tuple


class Status(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


class CheckResult(NamedTuple):
    """The verdict of one check. ``expected``/``actual``/``hint`` are for the student."""

    id: str
    description: str
    status: Status
    points: float
    max_points: float
    expected: Optional[str] = None
    actual: Optional[str] = None
    hint: Optional[str] = None
    notes: Tuple[str, ...] = ()
    reason: Optional[str] = None  # why a check was skipped

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED


# What the sequence diagram draws for a timeline entry (``TimelineEntry.kind``).  An arrow goes
# from the entry's source to the other side, except SEEN_CLOSE and RESET, which the counterpart
# saw arrive from the program.
PRINT = "print"  # a line the program printed: a note on its lifeline
CALL = "call"  # a socket call worth seeing on the program's lifeline (accept() returned, recv() got ...)
CONNECT = "connect"  # the connection made: an arrow from the side that connected
DATA = "data"  # a piece of data sent: an arrow
DATAGRAM = "datagram"  # a datagram sent: an arrow
CLOSE = "close"  # a side closed its sending direction (FIN): an arrow
SEEN_CLOSE = "seen_close"  # the counterpart saw a close the program's code did not make
RESET = "reset"  # the counterpart saw the connection reset (RST)
CRASH = "crash"  # the program's uncaught exception
END = "end"  # the program's code finished
STOP = "stop"  # the grader stopped the program: a line across, with why
NOTE = "note"  # anything else on the counterpart's (or the grader's) side
DIAGRAM_KINDS = (PRINT, CALL, CONNECT, DATA, DATAGRAM, CLOSE, SEEN_CLOSE, RESET, CRASH, END, STOP, NOTE)


class TimelineEntry(NamedTuple):
    """One line of the --verbose timeline: seconds since start, who, what; ``kind`` and ``label``
    say what the sequence diagram draws for it (``grader.report.diagram``), "" when nothing."""

    t: float
    source: str  # "program", "output", "reference client", "reference server", "grader"
    text: str
    kind: str = ""  # one of grader.report.diagram.KINDS
    label: str = ""  # the diagram's short words for it: the data, the exception's name, ...


class RobustnessResult(NamedTuple):
    """One ``--stress`` condition (grader/labday/stress.py): survived, failed or not applicable.
    Reported apart from the checks; it does not change the score."""

    condition: str  # e.g. "pieces"
    description: str
    status: str  # "survived", "failed", "missed" (an extra-mile condition), "not applicable"
    lesson: Optional[str] = None  # on failure: the TCP lesson
    failed_checks: Tuple[str, ...] = ()  # checks that passed normally and failed here
    reason: Optional[str] = None  # failed: what went wrong; not applicable: why


class Report(NamedTuple):
    role: str
    file: str
    checks: Tuple[CheckResult, ...]
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    exit_status: Optional[int] = None
    stopped_because: Optional[str] = None
    requested_address: Optional[str] = None
    notes: Tuple[str, ...] = ()
    timeline: Tuple[TimelineEntry, ...] = ()
    exercise: str = ""  # the title of the exercise it was graded in, e.g. "TCP Hello World"
    robustness: Tuple[RobustnessResult, ...] = ()  # --stress only

    @property
    def score(self) -> float:
        return sum(c.points for c in self.checks)

    @property
    def max_score(self) -> float:
        return sum(c.max_points for c in self.checks)

    @property
    def full_marks(self) -> bool:
        return all(c.passed for c in self.checks)

    def check(self, check_id: str) -> CheckResult:
        for c in self.checks:
            if c.id == check_id:
                return c
        raise KeyError(check_id)

    def to_dict(self) -> Dict[str, Any]:
        data = self._asdict()
        data["checks"] = [dict(c._asdict(), status=c.status.value, notes=list(c.notes)) for c in self.checks]
        data["notes"] = list(self.notes)
        data["timeline"] = [entry._asdict() for entry in self.timeline]
        data["robustness"] = [dict(r._asdict(), failed_checks=list(r.failed_checks)) for r in self.robustness]
        data["score"] = self.score
        data["max_score"] = self.max_score
        return data

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Report":
        """Inverse of ``to_dict`` (used by batch re-runs that reuse stored results)."""
        checks = tuple(
            CheckResult(
                id=c["id"], description=c["description"], status=Status(c["status"]),
                points=c["points"], max_points=c["max_points"], expected=c.get("expected"),
                actual=c.get("actual"), hint=c.get("hint"), notes=tuple(c.get("notes", ())),
                reason=c.get("reason"),
            )
            for c in data["checks"]
        )
        timeline = tuple(TimelineEntry(**t) for t in data.get("timeline", ()))
        return cls(
            role=data["role"], file=data["file"], checks=checks, stdout=data.get("stdout", ""),
            stderr=data.get("stderr", ""), duration=data.get("duration", 0.0),
            exit_status=data.get("exit_status"), stopped_because=data.get("stopped_because"),
            requested_address=data.get("requested_address"), notes=tuple(data.get("notes", ())),
            timeline=timeline, exercise=data.get("exercise", ""),
            robustness=tuple(RobustnessResult(**dict(r, failed_checks=tuple(r.get("failed_checks", ()))))
                             for r in data.get("robustness", ())),
        )
