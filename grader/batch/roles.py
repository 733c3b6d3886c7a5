"""Which file of a submission is the server and which the client.

Students name their files anything ("srv.py", "HW3 Client (1).py", "part1.py"), so the role comes
from the file name when the name tells, and otherwise from what the code calls: a server calls
``accept()``/``listen()``, a client ``connect()``; over UDP (none of those) a server binds and
receives first (``recvfrom()``), a client sends first (``sendto()``).  When two files claim one role the better
match wins and the other is kept as an extra file, never dropped silently.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from grader.exercises.default import CLIENT, ROLES, SERVER
from grader.running.inputs import read_regular_file

PYTHON_SUFFIXES = (".py", ".pyw")

# Whole-word-ish markers in a file name, checked on the lower-cased stem.
_NAME_MARKERS = {
    SERVER: re.compile(r"(server|serveur|servidor|srv|serv)"),
    CLIENT: re.compile(r"(client|cliente|klient|cli)"),
}
_CODE_MARKERS = {
    SERVER: (re.compile(r"\.\s*accept\s*\("), re.compile(r"\.\s*listen\s*\(")),
    CLIENT: (re.compile(r"\.\s*connect(_ex)?\s*\("), re.compile(r"create_connection\s*\(")),
}
# Datagram calls, for code that makes no stream call: who speaks first tells the role.
_DATAGRAM_RECEIVE = re.compile(r"\.\s*recv(from(_into)?)?\s*\(")
_DATAGRAM_SEND = re.compile(r"\.\s*sendto\s*\(")
_BIND = re.compile(r"\.\s*bind\s*\(")
# Canvas appends "-1", "-2" to the original name of a resubmitted file: the highest is newest.
_RESUBMISSION = re.compile(r"-(\d+)$")


class Assignment(NamedTuple):
    """The outcome of role detection for one submission."""

    files: Dict[str, Path]  # role -> the file graded for it
    extra: Tuple[Path, ...]  # files not graded (other roles' duplicates, non-Python files)
    notes: Tuple[str, ...]  # plain sentences for the TA: how ambiguous cases were decided


def is_python_file(path: Path) -> bool:
    return path.suffix.lower() in PYTHON_SUFFIXES


def role_from_name(name: str) -> Optional[str]:
    """The role a file name announces, or None when it names neither or both."""
    stem = Path(name).stem.lower()
    found = [role for role in ROLES if _NAME_MARKERS[role].search(stem)]
    return found[0] if len(found) == 1 else None


def role_from_code(text: str) -> Optional[str]:
    """The role the code plays, judged by the socket calls it makes (None when unclear)."""
    scores = {role: sum(len(p.findall(text)) for p in _CODE_MARKERS[role]) for role in ROLES}
    if scores[SERVER] and not scores[CLIENT]:
        return SERVER
    if scores[CLIENT] and not scores[SERVER]:
        return CLIENT
    if scores[SERVER] or scores[CLIENT] or "SOCK_DGRAM" not in text:
        return None  # both: unclear; neither, and no datagram socket: nothing to go by
    return _datagram_role(text)


def _datagram_role(text: str) -> Optional[str]:
    """UDP: the server waits for a datagram (it receives first), the client sends first; a
    program that only binds is a server.  By the order in the source, which is the order of
    the calls in the straight-line programs of the lab."""
    receive, send = _DATAGRAM_RECEIVE.search(text), _DATAGRAM_SEND.search(text)
    if send and (not receive or send.start() < receive.start()):
        return CLIENT
    if receive:
        return SERVER
    return SERVER if _BIND.search(text) else None


def _read_text(path: Path) -> str:
    """The start of a file, enough to judge its role; "" when it cannot be read.  The batch's
    discovery only passes files that stay in the student's folder (grader/batch/confine.py)."""
    try:
        source = read_regular_file(path, 200_000)
    except OSError:
        return ""
    return source.decode("utf-8", errors="replace") if source is not None else ""


def _resubmission_number(path: Path) -> int:
    match = _RESUBMISSION.search(path.stem)
    return int(match.group(1)) if match else 0


def assign_roles(files: Sequence[Path], display_names: Optional[Dict[Path, str]] = None) -> Assignment:
    """Pick one file per role from a student's files.

    ``display_names`` maps a file to the name to judge and report it by (Canvas prefixes every
    file with the student's name and ids, which would otherwise hide "server" or "client").
    """
    names = display_names or {}

    def shown(path: Path) -> str:
        return names.get(path, path.name)

    python = sorted((f for f in files if is_python_file(Path(shown(f)))), key=shown)
    extra: List[Path] = [f for f in files if f not in python]
    notes: List[str] = []
    by_name: Dict[str, List[Path]] = {role: [] for role in ROLES}
    unnamed: List[Path] = []
    for f in python:
        role = role_from_name(shown(f))
        (by_name[role] if role else unnamed).append(f)
    codes = {f: role_from_code(_read_text(f)) for f in python}

    chosen: Dict[str, Path] = {}
    for role in ROLES:
        candidates = by_name[role]
        if not candidates:
            continue
        # Prefer a file whose code also plays the role, then the newest Canvas resubmission,
        # then the plainest name ("server.py" over "server_old.py").
        best = max(candidates, key=lambda f: (codes[f] == role, _resubmission_number(Path(shown(f))),
                                              -len(shown(f)), shown(f)))
        chosen[role] = best
        for other in candidates:
            if other is not best:
                extra.append(other)
                notes.append(f"{shown(other)} also looks like a {role}; graded {shown(best)} instead.")

    for f in unnamed:
        role = codes[f]
        if role and role not in chosen:
            chosen[role] = f
            notes.append(f"{shown(f)} was graded as the {role} because of the socket calls it makes.")
            continue
        extra.append(f)
        if role:
            notes.append(f"{shown(f)} also looks like a {role} (by its code); "
                         f"graded {shown(chosen[role])} instead.")
        else:
            notes.append(f"{shown(f)} was not graded: its name and code do not tell whether it is "
                         "the server or the client (put 'server' or 'client' in the file name).")
    for f in extra:
        if not is_python_file(Path(shown(f))):
            notes.append(f"{shown(f)} was not graded: it is not a Python (.py) file.")
    return Assignment(files=chosen, extra=tuple(sorted(set(extra), key=shown)), notes=tuple(notes))


__all__ = ["Assignment", "assign_roles", "is_python_file", "role_from_code", "role_from_name",
           "SERVER", "CLIENT"]
