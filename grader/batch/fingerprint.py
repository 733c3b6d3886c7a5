"""Fingerprints that decide whether a re-run may reuse a student's stored result.

A student's fingerprint covers everything their grade depends on: the bytes of each graded file
and the role it was graded for, the grading options, the exercise (``exercise_fingerprint``: its
definition, checks and templates, which may live outside the package), and the grader itself (its version and the
source of every module in the ``grader`` package).  Any change gives a new fingerprint and so a
regrade; being conservative here costs seconds, being wrong would cost a wrong grade.
"""
from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Mapping

import grader
from grader.exercises.steps import Exercise


@lru_cache(maxsize=1)
def grader_fingerprint() -> str:
    digest = hashlib.sha256(grader.__version__.encode())
    package = Path(grader.__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def submission_fingerprint(files: Mapping[str, Path], options: Dict[str, Any]) -> str:
    digest = hashlib.sha256(grader_fingerprint().encode())
    digest.update(json.dumps(options, sort_keys=True, default=str).encode())
    for role in sorted(files):
        # fsencode: a name that is not UTF-8 is hashed as its own bytes (the same bytes as before
        # for every other name)
        digest.update(b"\0" + role.encode() + b"\0" + os.fsencode(files[role].name) + b"\0")
        digest.update(hashlib.sha256(files[role].read_bytes()).digest())
    return digest.hexdigest()


def exercise_fingerprint(exercise: Exercise) -> str:
    """The exercise's id and the bytes of the files that define it: exercise.json, checks.py
    and the templates (a blank template is recognised from them)."""
    digest = hashlib.sha256(exercise.id.encode())
    paths = [os.path.join(exercise.folder, "exercise.json")] if exercise.folder else []
    paths += [exercise.files.get("other", {}).get("checks", "")]
    paths += [exercise.files.get("template", {}).get(role, "") for role in sorted(exercise.checks)]
    for path in paths:
        try:
            digest.update(b"\0" + hashlib.sha256(Path(path).read_bytes()).digest() if path else b"\0")
        except OSError:
            digest.update(b"\0missing")
    return digest.hexdigest()
