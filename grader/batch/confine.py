"""A student's files are read as files, never through a link out of the student's folder.

A class folder of cloned repositories holds whatever the students committed, links included:
``server.py -> ../bob/server.py`` would earn Bob's grade, ``client.py -> /home/ta/notes.txt``
would put the TA's file into the feedback, and ``a -> .`` would make the walk endless.  So:

- a link whose target (followed to the end) lies inside the student's own folder is a file
  like any other (``server.py -> src/server.py``); a link to a folder is never walked into
  (whatever it shows is already in the student's folder, or is not theirs);
- a link that points anywhere else (another student's folder, the TA's files, nowhere) is not
  followed: it is reported in a note, and the role it would have filled counts as missing;
- the walk ends whatever the folder holds: each real folder is visited once, and the depth and
  the number of entries looked at are bounded;
- the content graded is read once, through a check made on the opened file itself
  (``read_confined``), into a private copy (``snapshot``): a link swapped in after the check
  cannot change what is graded.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Set, Tuple

from grader.running.inputs import read_regular_file

MAX_DEPTH = 16  # folders within a student's folder
MAX_ENTRIES = 5_000  # entries looked at per student (a committed virtualenv holds thousands)
MAX_FILE_BYTES = (1 << 20) + 1  # what the grader reads of a program (grader.running.inputs bounds it)


class LinkOut(OSError):
    """The file is a link to something outside the folder it must stay in."""


@dataclass
class Walk:
    """What a walk of one student's folder found."""

    files: List[Path] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)  # plain sentences: links refused, walk cut short


def real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def inside(path: Path, boundary: Path) -> bool:
    """``path`` (already real) is ``boundary`` (already real) or within it."""
    return path == boundary or boundary in path.parents


def walk(folder: Path, skip: Callable[[Path], bool], *, boundary: Optional[Path] = None,
         shown: Optional[Callable[[Path], str]] = None) -> Walk:
    """The files in ``folder`` and its subfolders, by the rules of the module docstring.

    ``boundary`` is the folder links may point into (default: ``folder``); ``skip`` says which
    entries to leave out (clutter, the output folder); ``shown`` names an entry in notes.
    """
    boundary = real(boundary if boundary is not None else folder)
    name = shown or (lambda p: _relative(p, folder))
    found = Walk()
    visited: Set[Tuple[int, int]] = set()
    budget = [MAX_ENTRIES]

    def visit(directory: Path, depth: int) -> None:
        try:
            info = os.stat(directory, follow_symlinks=False)
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            return
        if (info.st_dev, info.st_ino) in visited:
            return
        visited.add((info.st_dev, info.st_ino))
        for entry in entries:
            path = Path(entry.path)
            if skip(path):
                continue
            budget[0] -= 1
            if budget[0] < 0:
                if budget[0] == -1:
                    found.notes.append(f"Only the first {MAX_ENTRIES} files and folders of this "
                                       "submission were looked at.")
                return
            try:
                if entry.is_symlink():
                    _link(path, name(path), boundary, found)
                elif entry.is_dir(follow_symlinks=False):
                    if depth < MAX_DEPTH:
                        visit(path, depth + 1)
                    else:
                        found.notes.append(f"{name(path)} was not looked at: it is more than "
                                           f"{MAX_DEPTH} folders deep.")
                elif entry.is_file(follow_symlinks=False):
                    found.files.append(path)
                else:
                    found.notes.append(f"{name(path)} is not a regular file (a pipe or a device, "
                                       "say); it was not graded.")
            except OSError:
                continue  # vanished or unreadable meanwhile: as if it were not there

    visit(Path(folder), 0)
    # A link to a file of the same name that is there anyway would only be a second copy of it.
    plain = {real(f) for f in found.files if not f.is_symlink()}
    found.files = [f for f in found.files
                   if not (f.is_symlink() and real(f) in plain and real(f).name == f.name)]
    return found


def _link(path: Path, name: str, boundary: Path, found: Walk) -> None:
    target = real(path)
    if not inside(target, boundary):
        found.notes.append(link_out_note(name, folder=target.is_dir()))
    elif target.is_file():
        found.files.append(path)
    elif not target.is_dir():
        found.notes.append(f"{name} is a link that leads nowhere (to itself, or to a file that "
                           "does not exist); it was not graded.")
    # A link to a folder of the student's own is not walked: its files are found where they are.


def link_out_note(name: str, *, folder: bool = False) -> str:
    if folder:
        return f"{name} is a link to a folder outside your submission; nothing in it was graded."
    return (f"{name} is a link to a file outside your submission; it was not graded "
            "(submit the file itself).")


def read_confined(path: Path, boundary: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """Up to ``limit`` bytes of ``path``, which must be a regular file inside ``boundary`` (a
    real path) once every link is followed.  ``LinkOut`` when it is not inside, ``OSError``
    when it cannot be read or is not a regular file.  The check is made on the file opened,
    so what is read is what was checked."""
    target = real(path)
    if not inside(target, boundary):
        raise LinkOut(f"{path} leads outside {boundary}")

    def still_inside(fd: int) -> None:
        opened = _opened_path(fd)
        if opened is not None and not inside(opened, boundary):
            raise LinkOut(f"{path} leads outside {boundary}")  # a folder on the way was swapped

    # follow=False: the real path ends in no link, so a link found there now was swapped in.
    data = read_regular_file(target, limit, follow=False, check=still_inside)
    if data is None:
        raise OSError(f"{path} is not a regular file")
    return data


def _opened_path(fd: int) -> Optional[Path]:
    """Where the open file really is (Linux), or None where the system does not say."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return None


def snapshot(path: Path, boundary: Path, dest: Path) -> Path:
    """Copy ``path`` (read by ``read_confined``) to ``dest``, which the grader alone writes."""
    data = read_confined(path, boundary)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "xb") as out:
        out.write(data)
    return dest


def _relative(path: Path, folder: Path) -> str:
    try:
        return path.relative_to(folder).as_posix()
    except ValueError:
        return path.name
