"""Find the students and their files in a submissions folder, whatever export it came from.

Three layouts are recognised, in this order:

- **Gradescope "Export Submissions"**: ``submission_metadata.yml`` beside one folder per
  submission (``submission_123456/``); the metadata names the submitters (one or a group).
- **Canvas "Download Submissions"**: flat files named
  ``<name>_[late_]<user id>_<attachment id>_<original name>``, where Canvas appends ``-1``,
  ``-2`` to the original name of a resubmitted file; grouped per user id.
- **One folder per student**: each folder holds that student's files (in any subfolders).

Anything that fits no student is returned in ``unmatched``, so the TA sees it; nothing is
dropped except operating-system clutter (``__MACOSX``, ``.DS_Store``, ``__pycache__``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from grader.batch import yaml_subset
from grader.batch.archives import unpack_archives
from grader.batch.roles import assign_roles, is_python_file
from grader.inputs import InputError

GRADESCOPE = "Gradescope export"
CANVAS = "Canvas export"
FOLDERS = "one folder per student"

GRADESCOPE_METADATA = "submission_metadata.yml"
_CLUTTER = {"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini", "__pycache__", ".git", ".idea",
            ".vscode", ".ipynb_checkpoints"}
CANVAS_NAME = re.compile(
    r"^(?P<name>.+?)_(?P<late>late_)?(?P<uid>\d+)(?:_(?P<aid>\d+))?_(?P<original>.+)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Person:
    name: str
    sid: str = ""
    email: str = ""


@dataclass(frozen=True)
class Submission:
    """One student's (or one group's) files, with the role each file is graded for."""

    key: str  # unique and stable across runs: the cache and the feedback file name use it
    student: str  # display name
    people: Tuple[Person, ...]
    files: Dict[str, Path]  # role -> file to grade
    extra: Tuple[Path, ...] = ()  # the student's files that are not graded
    notes: Tuple[str, ...] = ()
    late: bool = False
    names: Dict[Path, str] = field(default_factory=dict, compare=False)  # file -> name to show
    # A file unpacked from the student's own zip (grader/batch/archives.py) -> (zip, path in it).
    origins: Dict[Path, Tuple[Path, str]] = field(default_factory=dict, compare=False)

    def shown(self, path: Path) -> str:
        return self.names.get(path, path.name)


@dataclass(frozen=True)
class Discovery:
    layout: str
    root: Path
    submissions: Tuple[Submission, ...]
    unmatched: Tuple[Path, ...]


def is_clutter(path: Path) -> bool:
    return path.name in _CLUTTER or path.suffix == ".pyc" or path.name.startswith("._")


def _files_under(folder: Path, skip: Optional[Path]) -> List[Path]:
    found: List[Path] = []
    for path in sorted(folder.iterdir()):
        if is_clutter(path) or (skip is not None and _same(path, skip)):
            continue
        if path.is_dir():
            found.extend(_files_under(path, skip))
        elif path.is_file():
            found.append(path)
    return found


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _entries(folder: Path, skip: Optional[Path]) -> Tuple[List[Path], List[Path]]:
    files, dirs = [], []
    for path in sorted(folder.iterdir()):
        if is_clutter(path) or (skip is not None and _same(path, skip)):
            continue
        (dirs if path.is_dir() else files).append(path)
    return files, dirs


def _top(root: Path, skip: Optional[Path]) -> Path:
    """Step into a lone wrapping folder (a zip of ``export/`` holds everything inside it).

    A lone folder is a wrapper when it holds an export's marks (Gradescope's metadata, Canvas's
    file names) or folders and no program; otherwise it is the class's only student.
    """
    for _ in range(5):
        files, dirs = _entries(root, skip)
        if files or len(dirs) != 1:
            break
        inner_files, inner_dirs = _entries(dirs[0], skip)
        wrapper = ((dirs[0] / GRADESCOPE_METADATA).is_file()
                   or any(CANVAS_NAME.match(f.name) for f in inner_files)
                   or (inner_dirs and not any(is_python_file(f) for f in inner_files)))
        if not wrapper:
            break
        root = dirs[0]
    return root


def discover(root: Path, *, skip: Optional[Path] = None, label: Optional[str] = None,
             scratch: Optional[Path] = None) -> Discovery:
    """Recognise the layout of ``root`` and list its submissions.

    ``skip`` is a folder to leave out (the output folder, when the TA puts it inside the
    submissions); ``label`` names ``root`` in messages (the .zip it was unpacked from);
    ``scratch`` is a folder to unpack students' own zips into (without it they stay files that
    are not graded).  Raises ``InputError`` when there is nothing that looks like a submission.
    """
    top = Path(root)
    root = _top(top, skip)
    files, dirs = _entries(root, skip)
    if (root / GRADESCOPE_METADATA).is_file():
        found = _gradescope(root, files, dirs, skip, scratch)
    elif any(CANVAS_NAME.match(f.name) for f in files):
        found = _canvas(root, files, dirs, skip, scratch)
    else:
        found = _folders(root, files, dirs, skip, scratch)
    if not found.submissions:
        shown = label or str(top)
        if root != top:
            shown += f" ({root.relative_to(top).as_posix()})"
        raise InputError(_nothing_found(shown, files, dirs))
    return found


def _nothing_found(root: str, files: List[Path], dirs: List[Path]) -> str:
    seen = "it is empty" if not files and not dirs else (
        "it holds only " + ", ".join(p.name for p in (files + dirs)[:5])
        + (" ..." if len(files) + len(dirs) > 5 else ""))
    return (f"No student submissions found in {root} ({seen}). Give one folder per student, a Canvas "
            "export (files named like 'doejane_12345_67890_server.py') or a Gradescope export (with "
            f"{GRADESCOPE_METADATA}).")


def _submission(key: str, student: str, people: Tuple[Person, ...], files: List[Path],
                scratch: Optional[Path], *, late: bool = False, names: Optional[Dict[Path, str]] = None,
                notes: Tuple[str, ...] = ()) -> Submission:
    names = names or {}
    origins: Dict[Path, Tuple[Path, str]] = {}
    if scratch is not None:
        unpacked = unpack_archives(files, names, scratch)
        files, names, origins, notes = unpacked.files, unpacked.names, unpacked.origins, notes + unpacked.notes
    assignment = assign_roles(files, names)
    return Submission(key=key, student=student, people=people, files=assignment.files,
                      extra=assignment.extra, notes=notes + assignment.notes, late=late, names=names,
                      origins=origins)


def _folders(root: Path, files: List[Path], dirs: List[Path], skip: Optional[Path],
             scratch: Optional[Path]) -> Discovery:
    subs = [
        _submission(d.name, d.name, (Person(d.name),), _files_under(d, skip), scratch)
        for d in dirs
    ]
    return Discovery(FOLDERS, root, tuple(subs), tuple(files))


def _canvas(root: Path, files: List[Path], dirs: List[Path], skip: Optional[Path],
            scratch: Optional[Path]) -> Discovery:
    groups: Dict[str, List[Path]] = {}
    names: Dict[Path, str] = {}
    who: Dict[str, str] = {}
    late: Dict[str, bool] = {}
    unmatched: List[Path] = []
    for f in files:
        match = CANVAS_NAME.match(f.name)
        if not match:
            unmatched.append(f)
            continue
        uid = match.group("uid")
        groups.setdefault(uid, []).append(f)
        names[f] = match.group("original")
        who.setdefault(uid, match.group("name"))
        late[uid] = late.get(uid, False) or bool(match.group("late"))
    for d in dirs:
        unmatched.extend(_files_under(d, skip))
    subs = [
        _submission(f"{who[uid]}_{uid}", who[uid], (Person(who[uid], sid=uid),), groups[uid], scratch,
                    late=late[uid], names=names)
        for uid in sorted(groups, key=lambda u: (who[u].lower(), u))
    ]
    return Discovery(CANVAS, root, tuple(subs), tuple(unmatched))


def _people(entry: object) -> Tuple[Person, ...]:
    if not isinstance(entry, dict):
        return ()
    submitters = entry.get(":submitters") or entry.get("submitters") or []
    people = []
    for s in submitters if isinstance(submitters, list) else []:
        if isinstance(s, dict):
            get = lambda k: str(s.get(f":{k}", s.get(k, "")) or "")  # noqa: E731
            if get("name") or get("sid") or get("email"):
                people.append(Person(get("name"), get("sid"), get("email")))
    return tuple(people)


def _gradescope(root: Path, files: List[Path], dirs: List[Path], skip: Optional[Path],
                scratch: Optional[Path]) -> Discovery:
    try:
        text = (root / GRADESCOPE_METADATA).read_text(encoding="utf-8", errors="replace")
        metadata = yaml_subset.parse(text)
    except OSError:
        metadata = {}
    if not isinstance(metadata, dict):
        metadata = {}
    folders = {d.name: d for d in dirs}
    subs = []
    for key in sorted(set(metadata) | set(folders)):
        people = _people(metadata.get(key))
        notes: Tuple[str, ...] = ()
        if not people:
            people = (Person(key),)
            notes = (f"{key} is not named in {GRADESCOPE_METADATA}: the folder name stands in for "
                     "the student.",)
        elif key not in folders:
            notes = (f"{GRADESCOPE_METADATA} lists {key}, but the export has no folder for it.",)
        student = " & ".join(p.name or p.sid or p.email for p in people)
        folder_files = _files_under(folders[key], skip) if key in folders else []
        subs.append(_submission(key, student, people, folder_files, scratch, notes=notes))
    unmatched = [f for f in files if f.name != GRADESCOPE_METADATA]
    subs.sort(key=lambda s: (s.student.lower(), s.key))
    return Discovery(GRADESCOPE, root, tuple(subs), tuple(unmatched))
