"""The check engine: each check is judged from the observed facts by the judge of its step's kind.

A check returns ``Pass``, ``Fail`` (expected, actual, hint) or ``Skip`` (why it cannot be
judged).  The engine applies the exercise's points and prerequisites: when a required check did
not pass, the dependent one is skipped with the reason and scores zero.  The judges of the step
kinds live in ``grader/judging/checks/<role>.py`` (what is the same for both roles in ``common.py``;
the datagram (UDP) kinds in ``datagram.py``);
an exercise's checks in code (its ``checks.py``) register under their check id with ``check``.
"""
from __future__ import annotations

import threading
from typing import Callable, Dict, NamedTuple, Optional, Tuple, Union

from grader.judging import hints
from grader.judging.checks.facts import Facts
from grader.exercises.steps import PROBE, Exercise, Step, neighbours
from grader.judging.results import CheckResult, Status


class Pass(NamedTuple):
    notes: Tuple[str, ...] = ()


class Fail(NamedTuple):
    expected: str
    actual: str
    hint: Optional[str] = None
    notes: Tuple[str, ...] = ()


class Skip(NamedTuple):
    reason: str


Outcome = Union[Pass, Fail, Skip]


class Context(NamedTuple):
    """What a check may look at."""

    role: str
    exercise: Exercise
    facts: Facts
    strict: bool = False
    # Client only: a second run against a reference server sending ``other_message``.
    other_facts: Optional[Facts] = None
    other_message: str = ""
    # Found before running: a socket.py beside the program; the file is the blank template.
    shadowed_socket: bool = False
    is_template: bool = False
    # The program's source and file name as given, for explanations that read the code (a
    # program that looks like the other role; a main guard that is never true).
    source: bytes = b""
    file: str = ""

    @property
    def interference(self) -> Tuple[str, ...]:
        """Signs, in either run, of the program writing into the probe's channel or calling
        its internals: the checks that rest on the probe then score zero."""
        found = self.facts.trace.interference
        if self.other_facts is not None:
            found += tuple(r for r in self.other_facts.trace.interference if r not in found)
        return found


class Here(NamedTuple):
    """The step a check judges, and where it stands among its role's steps."""

    step: Step
    index: int
    steps: Tuple[Step, ...]

    @property
    def neighbours(self) -> Tuple[Optional[Step], Optional[Step]]:
        """(the completed step a print comes after, the waiting step it comes before)."""
        return neighbours(self.steps, self.index)


# Checks in code, by check id (an exercise's checks.py): ``function(ctx) -> Outcome``.
REGISTRY: Dict[str, Callable[[Context], Outcome]] = {}
# The judges of the step kinds, by (transport, role, kind); role None: the same for both roles;
# transport None: the same for every transport (runs, exits).
JUDGES: Dict[Tuple[Optional[str], Optional[str], str], Callable[[Context, Here], Outcome]] = {}
# The modules holding the judges of a transport other than TCP, imported when an exercise of
# that transport is first judged (so grading a TCP lab never loads them).
_TRANSPORT_JUDGES = {"udp": "grader.judging.checks.datagram"}


def check(check_id: str):
    """Register a check in code under its id (for an exercise's checks.py)."""
    def register(function: Callable[[Context], Outcome]):
        REGISTRY[check_id] = function
        return function
    return register


def judge(kind: str, role: Optional[str] = None, transport: Optional[str] = "tcp"):
    """Register the judge of a step kind (for one role, or both; for one transport, or all)."""
    def register(function: Callable[[Context, Here], Outcome]):
        JUDGES[(transport, role, kind)] = function
        return function
    return register


def _judge_of(transport: str, role: str, kind: str) -> Callable[[Context, Here], Outcome]:
    module = _TRANSPORT_JUDGES.get(transport)
    if module is not None:
        import importlib

        importlib.import_module(module)  # registers its judges (once: sys.modules keeps it)
    for key in ((transport, role, kind), (transport, None, kind), (None, role, kind), (None, None, kind)):
        if key in JUDGES:
            return JUDGES[key]
    raise KeyError("no judge for the %s step kind %r (%s)" % (role, kind, transport))


_LOADED: Dict[str, object] = {}
_LOADING = threading.Lock()


def load_code_checks(exercise: Exercise) -> None:
    """Run the exercise's checks.py once (its ``@check`` functions register themselves), and
    make sure every ``code`` step's check is registered."""
    path = exercise.files.get("other", {}).get("checks")
    if path:
        with _LOADING:
            if path not in _LOADED:
                import importlib.util

                spec = importlib.util.spec_from_file_location("exercise_checks_%d" % len(_LOADED), path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                _LOADED[path] = module
    missing = [s.check for steps in exercise.steps.values() for s in steps
               if s.kind == "code" and s.check not in REGISTRY]
    if missing:
        raise ValueError("the exercise %s has code steps whose checks no checks.py registers: %s"
                         % (exercise.id or exercise.name, ", ".join(missing)))


def _judged(ctx: Context, check_id: str) -> Outcome:
    found = ctx.exercise.step(check_id)
    if check_id in REGISTRY or found is None:
        return REGISTRY[check_id](ctx)
    index, step = found
    here = Here(step, index, ctx.exercise.steps[ctx.role])
    outcome = _judge_of(ctx.exercise.transport, ctx.role, step.kind)
    result = outcome(ctx, here)
    if step.hint and isinstance(result, Fail):
        result = result._replace(hint=step.hint)
    return result


def evaluate(ctx: Context) -> Tuple[CheckResult, ...]:
    results: Dict[str, CheckResult] = {}
    runs_id = ctx.role + ".runs"
    for spec in ctx.exercise.specs(ctx.role):
        reason = None
        if spec.id != runs_id and not results[runs_id].passed and _nothing_to_judge(ctx):
            reason = "%s failed, so there is nothing to judge yet" % runs_id
        for required in spec.requires:
            if reason is None and not results[required].passed:
                reason = "needs %s to pass first" % required
        if reason:
            outcome: Outcome = Skip(reason)
        elif ctx.interference and PROBE in spec.evidence:
            told = next((r.id for r in results.values() if r.hint == hints.INTERFERENCE), None)
            outcome = Fail(spec.description, "the program interfered with the grader" + (
                " (see %s)" % told if told else ": " + "; ".join(ctx.interference)), hints.INTERFERENCE)
        else:
            outcome = _judged(ctx, spec.id)
        results[spec.id] = _result(spec, outcome)
    return tuple(results.values())


def _nothing_to_judge(ctx: Context) -> bool:
    facts = ctx.facts
    return not facts.started or facts.syntax_error is not None or not facts.made_socket \
        or ctx.shadowed_socket


def _result(spec, outcome: Outcome) -> CheckResult:
    base = dict(id=spec.id, description=spec.description, max_points=spec.points)
    if isinstance(outcome, Pass):
        return CheckResult(status=Status.PASSED, points=spec.points, notes=outcome.notes, **base)
    if isinstance(outcome, Fail):
        return CheckResult(status=Status.FAILED, points=0.0, expected=outcome.expected,
                           actual=outcome.actual, hint=outcome.hint, notes=outcome.notes, **base)
    return CheckResult(status=Status.SKIPPED, points=0.0, reason=outcome.reason, **base)


# The checks register themselves; they import the names above, so they come last.
from grader.judging.checks import client, common, server  # noqa: E402,F401
