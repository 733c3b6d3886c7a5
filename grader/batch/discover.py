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

Links are not followed out of a student's own folder (``grader/batch/confine.py`` has the
rules); a link in the class folder itself (a student's folder or file that is a link) is not
followed at all and is listed as fitting no student.  In a Canvas export the whole class shares
one folder, so no student has a folder of their own and no link there is followed.  With a
``scratch`` folder, each file to grade is copied there, read once through those checks, and the
copy is what gets graded.
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

from grader.batch import confine, source, yaml_subset
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
    # A file graded from a copy -> where it came from: (the student's zip, its path in the zip)
    # for a file unpacked from it (grader/batch/archives.py), or (its folder, its name).
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


def _files_under(folder: Path, skip: Optional[Path]) -> confine.Walk:
    return confine.walk(folder, lambda p: is_clutter(p) or (skip is not None and _same(p, skip)))


def _same(a: Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)  # never raises, even on a link loop


def _entries(folder: Path, skip: Optional[Path]) -> Tuple[List[Path], List[Path], List[Path]]:
    """The class folder's files, folders and links (which are never followed)."""
    files, dirs, links = [], [], []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        entries = []
    for entry in entries:
        path = Path(entry.path)
        if is_clutter(path) or (skip is not None and _same(path, skip)):
            continue
        try:
            if entry.is_symlink():
                links.append(path)
            elif entry.is_dir(follow_symlinks=False):
                dirs.append(path)
            else:
                files.append(path)
        except OSError:
            continue
    return files, dirs, links


def _regular_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _top(root: Path, skip: Optional[Path]) -> Path:
    """Step into a lone wrapping folder (a zip of ``export/`` holds everything inside it).

    A lone folder is a wrapper when it holds an export's marks (Gradescope's metadata, Canvas's
    file names) or folders and no program; otherwise it is the class's only student.
    """
    for _ in range(5):
        files, dirs, links = _entries(root, skip)
        if files or links or len(dirs) != 1:
            break
        inner_files, inner_dirs, _ = _entries(dirs[0], skip)
        wrapper = (_regular_file(dirs[0] / GRADESCOPE_METADATA)
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
    files, dirs, links = _entries(root, skip)
    # Members of a class .zip that were links: never created (source.extract), but said.
    zip_links = _zip_links(top, root)
    context = _Context(top, scratch, zip_links)
    if _regular_file(root / GRADESCOPE_METADATA):
        found = _gradescope(root, files, dirs, links, skip, context)
    elif any(CANVAS_NAME.match(f.name) for f in files + links):
        found = _canvas(root, files, dirs, links, skip, context)
    else:
        found = _folders(root, files, dirs, links, skip, context)
    if not found.submissions:
        shown = label or str(top)
        if root != top:
            shown += f" ({root.relative_to(top).as_posix()})"
        raise InputError(_nothing_found(shown, files, dirs, links))
    return found


def _nothing_found(root: str, files: List[Path], dirs: List[Path], links: List[Path]) -> str:
    entries = files + dirs + links
    seen = "it is empty" if not entries else (
        "it holds only " + ", ".join(p.name for p in entries[:5]) + (" ..." if len(entries) > 5 else ""))
    if links:
        seen += "; links in it are not followed"
    return (f"No student submissions found in {root} ({seen}). Give one folder per student, a Canvas "
            "export (files named like 'doejane_12345_67890_server.py') or a Gradescope export (with "
            f"{GRADESCOPE_METADATA}).")


@dataclass(frozen=True)
class _Context:
    top: Path  # the folder given (paths are shown relative to it)
    scratch: Optional[Path]  # where students' zips are unpacked and files to grade are copied
    zip_links: Dict[str, List[str]]  # a name in the class folder -> links under it in the .zip


def _zip_links(top: Path, root: Path) -> Dict[str, List[str]]:
    """The links a class .zip held, by the first part of their path under ``root``."""
    found: Dict[str, List[str]] = {}
    for name in source.skipped_links(top):
        path = top / name
        try:
            rel = path.relative_to(root).parts
        except ValueError:
            continue
        if rel:
            found.setdefault(rel[0], []).append("/".join(rel[1:]) or rel[0])
    return found


def _zip_links_of_nobody(root: Path, context: _Context, students: Set[str]) -> Tuple[Path, ...]:
    """Links of a class .zip outside every student's folder: listed with the unmatched files."""
    return tuple(root / name for name in sorted(context.zip_links) if name not in students)


def _zip_link_note(name: str) -> str:
    return f"{name} is a link in the zip, not a file; links are not followed, so it was not graded."


def _submission(key: str, student: str, people: Tuple[Person, ...], files: List[Path],
                context: _Context, *, boundary: Optional[Path] = None, late: bool = False,
                names: Optional[Dict[Path, str]] = None, notes: Tuple[str, ...] = ()) -> Submission:
    """``boundary``: the student's own folder, the only place their links may lead (None in a
    Canvas export, whose files are never links: each must stay in the export's folder)."""
    names = names or {}
    origins: Dict[Path, Tuple[Path, str]] = {}
    scratch = context.scratch
    if scratch is not None:
        unpacked = unpack_archives(files, names, scratch)
        files, names, origins, notes = unpacked.files, unpacked.names, unpacked.origins, notes + unpacked.notes
    assignment = assign_roles(files, names)
    chosen = dict(assignment.files)
    extra = list(assignment.extra)
    notes = notes + assignment.notes
    if scratch is not None:
        copies = Path(tempfile.mkdtemp(prefix="files-", dir=scratch))
        for role, path in assignment.files.items():
            if path in origins:
                continue  # unpacked by the grader itself from the student's zip: a copy already
            shown = names.get(path, path.name)
            try:
                # copies/<the folder it was in>/<its name>, under <role>/ when the other role's
                # file has the same name (fewer folders: creating each costs a millisecond)
                folder = copies / path.parent.name
                if (folder / path.name).exists():
                    folder = copies / role / path.parent.name
                copy = _snapshot(path, boundary or path.parent, folder)
            except confine.LinkOut:
                del chosen[role]
                extra.append(path)
                notes += (confine.link_out_note(shown),)
                continue
            except OSError:
                continue  # graded from where it is: the grading says why it cannot be read
            chosen[role] = copy
            names[copy] = shown
            if path.parent != context.top:
                origins[copy] = (path.parent, path.name)
    return Submission(key=key, student=student, people=people, files=chosen,
                      extra=tuple(extra), notes=notes, late=late, names=names, origins=origins)


def _snapshot(path: Path, boundary: Path, folder: Path) -> Path:
    """Copy a file to grade into ``folder``, with the socket.py beside it if there is one (the
    grader tells a student whose socket.py would hide Python's)."""
    boundary = confine.real(boundary)
    copy = confine.snapshot(path, boundary, folder / path.name)
    for marker in ("socket.py", "socket/__init__.py"):
        if path.name != "socket.py" and (path.parent / marker).is_file():
            try:
                confine.snapshot(path.parent / marker, boundary, folder / marker)
            except OSError:
                pass
    return copy


def _folders(root: Path, files: List[Path], dirs: List[Path], links: List[Path],
             skip: Optional[Path], context: _Context) -> Discovery:
    subs = []
    for d in dirs:
        walk = _files_under(d, skip)
        notes = tuple(walk.notes) + tuple(_zip_link_note(n) for n in context.zip_links.get(d.name, ()))
        subs.append(_submission(d.name, d.name, (Person(d.name),), walk.files, context, boundary=d,
                                notes=notes))
    return Discovery(FOLDERS, root, tuple(subs), tuple(sorted(files + links))
                     + _zip_links_of_nobody(root, context, {d.name for d in dirs}))


def _canvas(root: Path, files: List[Path], dirs: List[Path], links: List[Path],
            skip: Optional[Path], context: _Context) -> Discovery:
    groups: Dict[str, List[Path]] = {}
    names: Dict[Path, str] = {}
    who: Dict[str, str] = {}
    late: Dict[str, bool] = {}
    notes: Dict[str, List[str]] = {}
    unmatched: List[Path] = []
    for f in sorted(files + links):
        match = CANVAS_NAME.match(f.name)
        if not match:
            unmatched.append(f)
            continue
        uid = match.group("uid")
        groups.setdefault(uid, [])
        notes.setdefault(uid, [])
        if f in links:
            notes[uid].append(f"{match.group('original')} is a link, not a file; links are not "
                              "followed in a Canvas export, so it was not graded.")
        else:
            groups[uid].append(f)
        names[f] = match.group("original")
        who.setdefault(uid, match.group("name"))
        late[uid] = late.get(uid, False) or bool(match.group("late"))
    for name in context.zip_links:
        match = CANVAS_NAME.match(name)
        if match and match.group("uid") in notes:
            notes[match.group("uid")].append(_zip_link_note(match.group("original")))
    for d in dirs:
        unmatched.extend(_files_under(d, skip).files)
    subs = [
        _submission(f"{who[uid]}_{uid}", who[uid], (Person(who[uid], sid=uid),), groups[uid], context,
                    late=late[uid], names=names, notes=tuple(notes[uid]))
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


def _gradescope(root: Path, files: List[Path], dirs: List[Path], links: List[Path],
                skip: Optional[Path], context: _Context) -> Discovery:
    try:
        raw = confine.read_confined(root / GRADESCOPE_METADATA, confine.real(root), 10_000_000)
        metadata = yaml_subset.parse(raw.decode("utf-8", errors="replace"))
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
        walk = _files_under(folders[key], skip) if key in folders else confine.Walk()
        notes += tuple(walk.notes) + tuple(_zip_link_note(n) for n in context.zip_links.get(key, ()))
        subs.append(_submission(key, student, people, walk.files, context, boundary=folders.get(key),
                                notes=notes))
    unmatched = [f for f in sorted(files + links) if f.name != GRADESCOPE_METADATA]
    unmatched += _zip_links_of_nobody(root, context, set(folders))
    subs.sort(key=lambda s: (s.student.lower(), s.key))
    return Discovery(GRADESCOPE, root, tuple(subs), tuple(unmatched))
