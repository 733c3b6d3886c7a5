"""Find the students and their files in a submissions folder, whatever export it came from.

The class is first looked for: lone folders around it (a zip of ``CS101/lab1/``, made by
"Compress" or "Send to > Compressed folder") are stepped into when what they hold looks like a
class rather than one student's work.  Its layout is then decided by what most of its entries
look like, never by one file alone:

- **Gradescope "Export Submissions"**: ``submission_metadata.yml`` beside one folder per
  submission (``submission_123456/``); the metadata names the submitters (one or a group).
- **Canvas "Download Submissions"**: flat files named
  ``<name>_[late_]<user id>_<attachment id>_<original name>`` (text entries:
  ``<name>_<user id>_text.html``), where Canvas appends ``-1``, ``-2`` to the original name of a
  resubmitted file; grouped per user id.  With anonymous grading there is no name and the
  submission's anonymous id stands for the user: ``[LATE_]anon_<id>_<attachment id>_<original>``
  (canvas-lms lib/content_zipper.rb); grouped per anonymous id.  Chosen when such files are at
  least as many as the folders and other programs beside them.
- **One folder per student**: each folder holds that student's files (in any subfolders).
- **One .zip per student**: ``alice.zip``, ``bob.zip``, each holding that student's files
  (under a folder of its own or not).  Chosen when zips outnumber folders; in either of these
  two layouts both a folder and a zip beside the others are a student.

Anything that fits no student is reported, never dropped: Python files and links in
``unmatched``, other files (a handout PDF, a README, a grades sheet) in ``ignored``.  Only
operating-system clutter (``grader/batch/clutter.py``) is left out unsaid.

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
from typing import Dict, List, NamedTuple, Optional, Set, Tuple

from grader.batch import confine, source, yaml_subset
from grader.batch.archives import unpack_archives
from grader.batch.clutter import is_clutter
from grader.batch.roles import assign_roles, is_python_file
from grader.running.inputs import InputError

GRADESCOPE = "Gradescope export"
CANVAS = "Canvas export"
FOLDERS = "one folder per student"
ZIPS = "one .zip per student"

GRADESCOPE_METADATA = "submission_metadata.yml"
# Both ids are required, except for a text entry or a link, which has no attachment: a file
# like "lab_1_handout.pdf" or "grades_2024_fall.csv" is not taken for a Canvas name.
CANVAS_NAME = re.compile(
    r"^(?P<name>.+?)_(?P<late>late_)?(?P<uid>\d+)_"
    r"(?:(?P<aid>\d+)_(?P<original>.+)|(?P<entry>text\.html|link\.html))$",
    re.IGNORECASE,
)
# Canvas with anonymous grading: the name is left out and "LATE" comes first.
CANVAS_ANONYMOUS_NAME = re.compile(
    r"^(?P<late>late_)?anon_(?P<anon>[0-9a-z]+)_(?P<late_after>late_)?"
    r"(?:(?P<aid>\d+)_(?P<original>.+)|(?P<entry>text\.html|link\.html))$",
    re.IGNORECASE,
)
# One student with more Python files than this, in a class of one, is most likely a whole class
# found in the wrong place: it is not graded without --single-student.
SUSPICIOUS_PYTHON_FILES = 4


class CanvasFile(NamedTuple):
    """What a Canvas export's file name says."""

    group: str  # the files of one student share it: the user id, or "anon_<anonymous id>"
    student: str  # the name to show
    sid: str  # the Canvas user id; empty when the assignment was graded anonymously
    late: bool
    original: str  # the name the student gave the file


def canvas_file(name: str) -> Optional[CanvasFile]:
    """The parts of a Canvas export's file name, or None when it is not one."""
    match = CANVAS_ANONYMOUS_NAME.match(name)
    if match:
        anon = match.group("anon")
        return CanvasFile(f"anon_{anon}", f"Anonymous {anon}", "",
                          bool(match.group("late") or match.group("late_after")),
                          match.group("original") or match.group("entry"))
    match = CANVAS_NAME.match(name)
    if match:
        uid = match.group("uid")
        return CanvasFile(uid, match.group("name"), uid, bool(match.group("late")),
                          match.group("original") or match.group("entry"))
    return None


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
    unmatched: Tuple[Path, ...]  # programs and links that fit no student: listed, not graded
    ignored: Tuple[Path, ...] = ()  # other files that fit no student (a handout, a README)
    where: str = ""  # where the class was found, for the TA: "class.zip/CS101-lab1/"


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


def _is_zip(path: Path) -> bool:
    return path.suffix.lower() == ".zip"


def _is_program(path: Path) -> bool:
    """A file that is, or may hold, a student's program: anything else fits no student."""
    return is_python_file(path) or _is_zip(path)


class _Vote(NamedTuple):
    """What a folder's entries look like."""

    canvas: int  # files named the way a Canvas export names them
    folders: int
    zips: int  # zips not named by Canvas
    python: int  # Python files not named by Canvas

    def layout(self, gradescope: bool) -> str:
        if gradescope:
            return GRADESCOPE
        if self.canvas and self.canvas >= self.folders + self.zips + self.python:
            return CANVAS
        return ZIPS if self.zips > self.folders else FOLDERS

    def is_class(self, gradescope: bool) -> bool:
        """Looks like a class more than like one student's work (a student's folder holds
        their programs, and maybe one folder or zip of them)."""
        if gradescope or self.layout(False) == CANVAS:
            return True
        students = self.folders + self.zips
        return (self.folders > 0 or self.zips > 1) and students > self.python


def _vote(files: List[Path], dirs: List[Path], links: List[Path]) -> _Vote:
    canvas = [f for f in files + links if canvas_file(f.name)]
    others = [f for f in files if f not in canvas and _is_program(f)]
    zips = sum(1 for f in others if _is_zip(f))
    return _Vote(len(canvas), len(dirs), zips, len(others) - zips)


def _top(root: Path, skip: Optional[Path]) -> Tuple[Path, List[Path]]:
    """Step into lone wrapping folders (a zip of ``CS101/lab1/`` holds the class inside them).

    A lone folder, beside nothing but files that are no programs, is a wrapper when what it
    holds looks like a class (``_Vote.is_class``); otherwise it is the class's only student.
    Returns the class folder and the files passed on the way (listed as ignored).
    """
    passed: List[Path] = []
    for _ in range(8):
        if _regular_file(root / GRADESCOPE_METADATA):
            break
        files, dirs, links = _entries(root, skip)
        if links or len(dirs) != 1 or any(_is_program(f) or canvas_file(f.name) for f in files):
            break
        inner = dirs[0]
        if not _vote(*_entries(inner, skip)).is_class(_regular_file(inner / GRADESCOPE_METADATA)):
            break
        passed.extend(files)
        root = inner
    return root, passed


def discover(root: Path, *, skip: Optional[Path] = None, label: Optional[str] = None,
             scratch: Optional[Path] = None) -> Discovery:
    """Recognise the layout of ``root`` and list its submissions.

    ``skip`` is a folder to leave out (the output folder, when the TA puts it inside the
    submissions); ``label`` names ``root`` in messages (the .zip it was unpacked from);
    ``scratch`` is a folder to unpack students' own zips into (without it they stay files that
    are not graded).  Raises ``InputError`` when there is nothing that looks like a submission.
    """
    top = Path(root)
    root, passed = _top(top, skip)
    files, dirs, links = _entries(root, skip)
    where = label or str(top)
    if root != top:
        where = where.rstrip("/\\") + "/" + root.relative_to(top).as_posix()
    # Members of a class .zip that were links: never created (source.extract), but said.
    zip_links = _zip_links(top, root)
    context = _Context(top, scratch, zip_links)
    gradescope = _regular_file(root / GRADESCOPE_METADATA)
    layout = _vote(files, dirs, links).layout(gradescope)
    if layout == GRADESCOPE:
        found = _gradescope(root, files, dirs, links, skip, context)
    elif layout == CANVAS:
        found = _canvas(root, files, dirs, links, skip, context)
    else:
        found = _folders(layout, root, files, dirs, links, skip, context)
    if not found.submissions:
        shown = label or str(top)
        if root != top:
            shown += f" ({root.relative_to(top).as_posix()})"
        raise InputError(_nothing_found(shown, files, dirs, links))
    return Discovery(found.layout, root, found.submissions, found.unmatched,
                     tuple(passed) + found.ignored, where)


def _left_over(files: List[Path], links: List[Path]) -> Tuple[List[Path], List[Path]]:
    """Files and links at the top of the class that fit no student: (unmatched, ignored).
    Programs and links are unmatched (one may be a student's work); the rest is ignored."""
    unmatched = sorted([f for f in files if _is_program(f)] + links)
    return unmatched, sorted(f for f in files if not _is_program(f))


def suspicious(found: Discovery) -> Optional[str]:
    """Why the layout found is likely wrong, or None: a class of one student with many Python
    files is a whole class in an unusual layout far more often than one student's work."""
    if len(found.submissions) != 1:
        return None
    sub = found.submissions[0]
    python = [p for p in list(sub.files.values()) + list(sub.extra)
              if is_python_file(Path(sub.shown(p)))]
    if len(python) <= SUSPICIOUS_PYTHON_FILES:
        return None
    return (f"Found 1 student ({sub.student}, {found.layout}, in {found.where}) with {len(python)} "
            "Python files: this looks like a whole class in a layout the grader did not recognise, "
            "so nothing was graded. Give a folder with one folder (or .zip) per student, a Canvas "
            "or a Gradescope export. If this really is one student's work, run the same command "
            "with --single-student.")


def _nothing_found(root: str, files: List[Path], dirs: List[Path], links: List[Path]) -> str:
    entries = files + dirs + links
    seen = "it is empty" if not entries else (
        "it holds only " + ", ".join(p.name for p in entries[:5]) + (" ..." if len(entries) > 5 else ""))
    if links:
        seen += "; links in it are not followed"
    return (f"No student submissions found in {root} ({seen}). Give one folder (or .zip) per "
            "student, a Canvas export (files named like 'doejane_12345_67890_server.py') or a "
            f"Gradescope export (with {GRADESCOPE_METADATA}).")


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


def _folders(layout: str, root: Path, files: List[Path], dirs: List[Path], links: List[Path],
             skip: Optional[Path], context: _Context) -> Discovery:
    """One folder or one .zip per student (both kinds are students in either layout)."""
    subs = []
    for d in dirs:
        walk = _files_under(d, skip)
        notes = tuple(walk.notes) + tuple(_zip_link_note(n) for n in context.zip_links.get(d.name, ()))
        subs.append(_submission(d.name, d.name, (Person(d.name),), walk.files, context, boundary=d,
                                notes=notes))
    taken = {d.name for d in dirs}
    zips = [f for f in files if _is_zip(f)]
    for z in zips:
        name = z.name[:-len(".zip")]
        key = name if name not in taken else z.name  # alice/ beside alice.zip: two students
        taken.add(key)
        subs.append(_submission(key, key, (Person(name),), [z], context, boundary=root))
    subs.sort(key=lambda s: (s.student.lower(), s.key))
    unmatched, ignored = _left_over([f for f in files if not _is_zip(f)], links)
    return Discovery(layout, root, tuple(subs),
                     tuple(unmatched) + _zip_links_of_nobody(root, context,
                                                             taken | {z.name for z in zips}),
                     tuple(ignored))


def _canvas(root: Path, files: List[Path], dirs: List[Path], links: List[Path],
            skip: Optional[Path], context: _Context) -> Discovery:
    groups: Dict[str, List[Path]] = {}
    names: Dict[Path, str] = {}
    who: Dict[str, CanvasFile] = {}
    late: Dict[str, bool] = {}
    notes: Dict[str, List[str]] = {}
    others: List[Path] = []
    for f in sorted(files + links):
        parsed = canvas_file(f.name)
        if parsed is None:
            others.append(f)
            continue
        group = parsed.group
        groups.setdefault(group, [])
        notes.setdefault(group, [])
        if f in links:
            notes[group].append(f"{parsed.original} is a link, not a file; links are not "
                                "followed in a Canvas export, so it was not graded.")
        else:
            groups[group].append(f)
        names[f] = parsed.original
        who.setdefault(group, parsed)
        late[group] = late.get(group, False) or parsed.late
    for name in context.zip_links:
        parsed = canvas_file(name)
        if parsed and parsed.group in notes:
            notes[parsed.group].append(_zip_link_note(parsed.original))
    unmatched, ignored = _left_over([f for f in others if f not in links],
                                    [f for f in others if f in links])
    for d in dirs:
        unmatched.extend(_files_under(d, skip).files)
    subs = []
    for group in sorted(groups, key=lambda g: (who[g].student.lower(), g)):
        person = who[group]
        # The key as before for a named student; an anonymous one has only its anonymous id.
        key = group if not person.sid else f"{person.student}_{group}"
        anonymous = (f"Graded anonymously in Canvas: {group} is the submission's anonymous id, "
                     "not a student's.",) if not person.sid else ()
        subs.append(_submission(key, person.student, (Person(person.student, sid=person.sid),),
                                groups[group], context, late=late[group], names=names,
                                notes=anonymous + tuple(notes[group])))
    return Discovery(CANVAS, root, tuple(subs), tuple(unmatched), tuple(ignored))


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
    unmatched, ignored = _left_over([f for f in files if f.name != GRADESCOPE_METADATA], links)
    unmatched += _zip_links_of_nobody(root, context, set(folders))
    subs.sort(key=lambda s: (s.student.lower(), s.key))
    return Discovery(GRADESCOPE, root, tuple(subs), tuple(unmatched), tuple(ignored))
