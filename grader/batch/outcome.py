"""What the batch knows about one student: per role a report, or why there is none.

These values are what every batch output (CSV, JSON, feedback, HTML, JUnit) is rendered from,
and what a re-run reads back from ``results.json`` to skip students whose files did not change.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from grader.batch.discover import Person
from grader.exercises.default import HELLO_WORLD, ROLES, Exercise
from grader.judging.results import Report

GRADED = "graded"
MISSING = "missing"
ERROR = "error"
LATE = "late"


def role_max_score(role: str, exercise: Exercise = HELLO_WORLD) -> float:
    return sum(spec.points for spec in exercise.specs(role))


@dataclass(frozen=True)
class RoleOutcome:
    role: str
    state: str  # GRADED, MISSING or ERROR
    report: Optional[Report] = None
    reason: str = ""  # for MISSING and ERROR: a sentence for the TA and the student
    file: str = ""  # the graded file, relative to the submissions folder
    # An ERROR that was not the student's file (a grader failure, Ctrl-C): grade it again next run.
    retry: bool = False
    # The role's points in the exercise graded, for an outcome with no report; None: Hello World's.
    role_max: Optional[float] = field(default=None, compare=False)

    @property
    def score(self) -> float:
        return self.report.score if self.report is not None else 0.0

    @property
    def max_score(self) -> float:
        if self.report is not None:
            return self.report.max_score
        return self.role_max if self.role_max is not None else role_max_score(self.role)

    def to_dict(self) -> Dict[str, Any]:
        return {"state": self.state, "file": self.file, "reason": self.reason, "retry": self.retry,
                "score": self.score, "max_score": self.max_score,
                "report": self.report.to_dict() if self.report is not None else None}

    @classmethod
    def from_dict(cls, role: str, data: Dict[str, Any]) -> "RoleOutcome":
        report = data.get("report")
        return cls(role=role, state=data["state"], reason=data.get("reason", ""),
                   file=data.get("file", ""), retry=bool(data.get("retry", False)),
                   report=Report.from_dict(report) if report else None,
                   role_max=None if report else data.get("max_score"))


@dataclass(frozen=True)
class StudentResult:
    key: str
    student: str
    people: Tuple[Person, ...]
    roles: Dict[str, RoleOutcome]
    late: bool = False
    extra: Tuple[str, ...] = ()  # files of this student that were not graded
    notes: Tuple[str, ...] = ()
    fingerprint: str = ""
    reused: bool = field(default=False, compare=False)  # taken from the previous run

    @property
    def score(self) -> float:
        return sum(self.roles[r].score for r in ROLES)

    @property
    def max_score(self) -> float:
        return sum(self.roles[r].max_score for r in ROLES)

    @property
    def status(self) -> str:
        """One word for the gradebook: error, then missing, then late, then graded."""
        states = {o.state for o in self.roles.values()}
        if ERROR in states:
            return ERROR
        if MISSING in states:
            return MISSING
        return LATE if self.late else GRADED

    @property
    def reasons(self) -> Tuple[str, ...]:
        """Why a role has no report, one sentence each (for the gradebook's reason column)."""
        return tuple(f"{r}: {self.roles[r].reason}" for r in ROLES if self.roles[r].reason)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "key": self.key, "student": self.student,
            "people": [{"name": p.name, "sid": p.sid, "email": p.email} for p in self.people],
            "status": self.status, "late": self.late, "score": self.score,
            "max_score": self.max_score, "extra_files": list(self.extra), "notes": list(self.notes),
            "fingerprint": self.fingerprint,
            "roles": {r: self.roles[r].to_dict() for r in ROLES},
        }

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "StudentResult":
        return cls(
            key=data["key"], student=data["student"],
            people=tuple(Person(p.get("name", ""), p.get("sid", ""), p.get("email", ""))
                         for p in data.get("people", ())),
            roles={r: RoleOutcome.from_dict(r, data["roles"][r]) for r in ROLES},
            late=bool(data.get("late")), extra=tuple(data.get("extra_files", ())),
            notes=tuple(data.get("notes", ())), fingerprint=data.get("fingerprint", ""),
        )
