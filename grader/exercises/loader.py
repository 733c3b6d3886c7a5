"""Reading an exercise from its ``exercise.json`` (the format: docs/exercises.md).

An exercise is a folder holding ``exercise.json`` (and optionally ``checks.py``, checks in code).
The shipped ones are in ``grader/exercises/<name>/``; ``--exercise`` also takes the path of a
folder anywhere else, so a course keeps its labs in its own repository.  Only ``json`` is
imported here: the command line reads an exercise before it starts the program.
"""
from __future__ import annotations

import json
import os
from typing import Dict, List, Tuple

from grader.exercises.steps import (AUTOMATIC_KINDS, KINDS, ROLES, SEND_DATA, Exercise, Step,
                          specs_from_steps, with_automatic_steps)

SHIPPED = os.path.dirname(os.path.abspath(__file__))
FILE_NAME = "exercise.json"
DEFAULT_EXERCISE = "hello"
TRANSPORTS = tuple(KINDS)
_STEP_FIELDS = {"kind", "check", "points", "text", "data", "description", "hint", "requires", "evidence"}


class ExerciseError(Exception):
    """An exercise that cannot be found or read: the message says which and why."""


def shipped_names() -> List[str]:
    try:
        names = os.listdir(SHIPPED)
    except OSError:
        return []
    return sorted(n for n in names if os.path.isfile(os.path.join(SHIPPED, n, FILE_NAME)))


def find_exercise(name_or_path: str) -> Exercise:
    """A shipped exercise by name, or the exercise in a folder (or its exercise.json) by path."""
    if name_or_path in shipped_names():
        return load_exercise(os.path.join(SHIPPED, name_or_path))
    candidate = name_or_path
    if os.path.basename(candidate) == FILE_NAME:
        candidate = os.path.dirname(candidate) or "."
    if os.sep in name_or_path or "/" in name_or_path or os.path.isdir(candidate):
        if os.path.isfile(os.path.join(candidate, FILE_NAME)):
            return load_exercise(candidate)
        raise ExerciseError("no %s in the folder %s" % (FILE_NAME, candidate))
    raise ExerciseError("unknown exercise %r; the exercises are: %s (or give the path of a folder "
                        "holding an %s)" % (name_or_path, ", ".join(shipped_names()), FILE_NAME))


def load_exercise(folder: str) -> Exercise:
    folder = os.path.abspath(folder)
    path = os.path.join(folder, FILE_NAME)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise ExerciseError("cannot read %s: %s" % (path, exc.strerror or exc)) from None
    except ValueError as exc:
        raise ExerciseError("%s is not valid JSON: %s" % (path, exc)) from None
    try:
        return _exercise(data, folder)
    except (KeyError, TypeError, ValueError) as exc:
        text = "missing field %s" % exc if isinstance(exc, KeyError) else str(exc)
        raise ExerciseError("%s: %s" % (path, text)) from None


def _exercise(data: Dict, folder: str) -> Exercise:
    if not isinstance(data, dict):
        raise ValueError("the file must hold one JSON object")
    transport = data.get("transport", "tcp")
    if transport not in TRANSPORTS:
        raise ValueError("transport %r is not supported (%s)" % (transport, ", ".join(TRANSPORTS)))
    message = data["message"]
    if isinstance(message, dict):
        message = message["text"]
    if not isinstance(message, str) or not message:
        raise ValueError('"message" must be a non-empty text')
    low, high = data.get("port_range", (1024, 65535))
    port_range = (int(low), int(high))
    steps: Dict[str, Tuple[Step, ...]] = {}
    checks = {}
    lines: Dict[str, Dict[str, str]] = {}
    seen = set()
    for role in ROLES:
        raw = data["steps"][role]
        if not isinstance(raw, list):
            raise ValueError("steps.%s must be a list of steps" % role)
        role_steps = with_automatic_steps(role, tuple(_step(role, i, s, transport) for i, s in enumerate(raw)))
        for step in role_steps:
            if step.check is not None:
                if step.check in seen:
                    raise ValueError("the check id %s is used twice" % step.check)
                seen.add(step.check)
        steps[role] = role_steps
        checks[role] = specs_from_steps(role, role_steps, message, port_range, transport)
        lines[role] = {_line_key(s, i): s.text for i, s in enumerate(role_steps) if s.kind == "print"}
    known = {s.id for specs in checks.values() for s in specs}
    for specs in checks.values():
        for spec in specs:
            for required in spec.requires:
                if required not in known:
                    raise ValueError("%s requires %s, which is no check of this exercise" % (spec.id, required))
    files: Dict[str, Dict[str, str]] = {}
    for key in ("reference", "template"):
        files[key] = {role: os.path.normpath(os.path.join(folder, p))
                      for role, p in (data.get(key) or {}).items() if role in ROLES}
    extra = {}
    if data.get("fixtures"):
        extra["fixtures"] = os.path.normpath(os.path.join(folder, data["fixtures"]))
    if os.path.isfile(os.path.join(folder, "checks.py")):
        extra["checks"] = os.path.join(folder, "checks.py")
    files["other"] = extra
    return Exercise(
        name=str(data.get("title") or data["name"]), message=message,
        server_lines=lines["server"], client_lines=lines["client"], port_range=port_range,
        time_limit=float(data.get("time_limit", 5.0)), peer_grace=float(data.get("peer_grace", 1.0)),
        checks=checks, steps=steps, id=str(data["name"]), transport=transport, files=files,
        folder=folder, request=str(data.get("request") or ""))


def _step(role: str, index: int, raw, transport: str = "tcp") -> Step:
    where = "steps.%s[%d]" % (role, index)
    if not isinstance(raw, dict):
        raise ValueError("%s must be an object" % where)
    unknown = set(raw) - _STEP_FIELDS
    if unknown:
        raise ValueError("%s has unknown field(s): %s" % (where, ", ".join(sorted(unknown))))
    kind = raw.get("kind")
    kinds = KINDS[transport] + AUTOMATIC_KINDS
    if kind not in kinds:
        raise ValueError("%s: kind %r is not one of %s (transport %s)" % (where, kind, ", ".join(kinds), transport))
    check = raw.get("check")
    if check is not None and not (isinstance(check, str) and check.startswith(role + ".")):
        raise ValueError('%s: check ids of the %s start with "%s." (got %r)' % (where, role, role, check))
    if kind in ("print",) and not raw.get("text"):
        raise ValueError("%s: a print step needs its text" % where)
    data = raw.get("data", "")
    if kind == "send" and data not in SEND_DATA:
        raise ValueError("%s: a send step's data is one of %s" % (where, ", ".join(SEND_DATA)))
    if kind == "sendto" and data not in ("", "message", "request"):
        raise ValueError('%s: a sendto step\'s data is "message" (exactly the message) or "request" '
                         '(any datagram)' % where)
    if kind == "code" and check is None:
        raise ValueError("%s: a code step names the check id its checks.py registers" % where)
    requires = raw.get("requires")
    return Step(kind=kind, check=check, points=float(raw.get("points", 1 if check else 0)),
                text=str(raw.get("text", "")), data=str(data or ("message" if kind in ("print_received", "sendto") else "")),
                description=raw.get("description"), hint=raw.get("hint"),
                requires=tuple(requires) if requires is not None else None,
                evidence=tuple(raw["evidence"]) if raw.get("evidence") else None)


def _line_key(step: Step, index: int) -> str:
    """The key of a console line in ``server_lines``/``client_lines``: the check's name without
    its role and "_printed" ("server.waiting_printed" -> "waiting")."""
    if step.check:
        name = step.check.split(".", 1)[1]
        return name[:-len("_printed")] if name.endswith("_printed") else name
    return "line%d" % index
