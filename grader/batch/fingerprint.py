"""Fingerprints that decide whether a re-run may reuse a student's stored result.

A student's fingerprint covers everything their grade depends on: the bytes of each graded file
and the role it was graded for, the grading options, and the grader itself (its version and the
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
