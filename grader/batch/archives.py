"""A student's own .zip among their files: unpacked, so the programs in it are graded.

Students often upload a zip of their work instead of the two files (Canvas keeps it as one file
named like the others).  Each one is unpacked, with the same safety rules as a class's zip
(``source.extract``: no member lands outside its folder, sizes are capped), into a scratch
folder the batch removes at its end, never into the TA's folder.  Its files then take part in
role detection like the student's other files, and are shown as ``lab1.zip/server.py``.  One
level only: a zip inside the zip stays a file that is not graded.  A member that is a link is
not unpacked (its target may be anyone's file), and a note says so.  A zip that cannot be
unpacked stays in the student's files, with a note that says why.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Dict, List, NamedTuple, Tuple

from grader.batch import source
from grader.batch.clutter import is_clutter

# A student's zip of two programs is a few kB; anything near these is not a lab submission.
MAX_STUDENT_ZIP_BYTES = 20_000_000
MAX_STUDENT_ZIP_MEMBERS = 500


class Unpacked(NamedTuple):
    files: List[Path]  # the student's files, with each unpacked zip replaced by what it holds
    names: Dict[Path, str]  # file -> the name to judge and show it by ("lab1.zip/server.py")
    origins: Dict[Path, Tuple[Path, str]]  # unpacked file -> (its zip, its path in the zip)
    notes: Tuple[str, ...]  # for the TA: what was unpacked, or why not


def unpack_archives(files: List[Path], names: Dict[Path, str], scratch: Path) -> Unpacked:
    """Unpack the .zip files among a student's ``files`` (named by ``names``) into ``scratch``."""
    kept: List[Path] = []
    shown = dict(names)
    origins: Dict[Path, Tuple[Path, str]] = {}
    notes: List[str] = []
    for path in files:
        name = names.get(path, path.name)
        if not name.lower().endswith(".zip"):
            kept.append(path)
            continue
        folder = Path(tempfile.mkdtemp(prefix="zip-", dir=scratch))
        try:
            links = source.extract(path, folder, MAX_STUDENT_ZIP_BYTES, MAX_STUDENT_ZIP_MEMBERS)
        except (source.ArchiveError, OSError) as exc:
            kept.append(path)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            notes.append(f"{name} could not be unpacked ({reason}), so the files in it were not "
                         "graded.")
            continue
        inside = sorted(p for p in folder.rglob("*") if p.is_file() and
                        not any(is_clutter(Path(part)) for part in p.relative_to(folder).parts))
        for member in inside:
            relative = member.relative_to(folder).as_posix()
            kept.append(member)
            shown[member] = f"{name}/{relative}"
            origins[member] = (path, relative)
        notes.append(f"{name} was unpacked: " + (f"{len(inside)} file(s) in it were looked at."
                                                 if inside else "it holds no files."))
        notes.extend(f"{name}/{link} is a link in the zip, not a file; links are not followed, so "
                     "it was not graded." for link in links)
    return Unpacked(kept, shown, origins, tuple(notes))
