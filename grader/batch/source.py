"""Open what the TA passed as SUBMISSIONS: a folder as it is, or a .zip unpacked to a temp folder.

Zips come from Canvas, Gradescope or a TA's own archive tool, so the reader is defensive: member
names that try to leave the folder ("../x", "/etc/x") are refused, members that are links are
never created (``skipped_links`` lists them, so the student is told), sizes are capped against
zip bombs, and names stored in the old DOS encoding are repaired when they are really UTF-8 (macOS and
many Windows tools store non-ASCII names that way).
"""
from __future__ import annotations

import contextlib
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath
from typing import Dict, Iterator, List, Tuple

from grader.running import tempdirs
from grader.running.inputs import InputError

MAX_UNPACKED_BYTES = 1_000_000_000  # a class of 400 small programs is a few MB
MAX_MEMBERS = 50_000

# The folder a class .zip was unpacked into -> its members that were links (not created).
_SKIPPED_LINKS: Dict[Path, Tuple[str, ...]] = {}


def skipped_links(folder: Path) -> Tuple[str, ...]:
    """The links (paths in the zip) left out when ``folder`` was unpacked by ``opened``."""
    return _SKIPPED_LINKS.get(Path(folder), ())


@contextlib.contextmanager
def opened(path: Path) -> Iterator[Path]:
    """Yield a folder holding the submissions; a temp folder for a zip, removed afterwards."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist: give the folder or .zip of submissions you downloaded.")
    if path.is_dir():
        yield path
        return
    if not zipfile.is_zipfile(path):
        raise InputError(
            f"{path} is not a folder or a zip archive (a damaged or partly downloaded .zip looks like "
            "this): download it again, or unzip it yourself and give the folder."
        )
    temp = Path(tempdirs.make("batch"))
    try:
        _SKIPPED_LINKS[temp] = tuple(_extract(path, temp))
        yield temp
    finally:
        _SKIPPED_LINKS.pop(temp, None)
        shutil.rmtree(temp, ignore_errors=True)


def member_name(info: zipfile.ZipInfo) -> str:
    """The member's real name: undo zipfile's cp437 decoding when the bytes were UTF-8."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name


def _safe_relative(name: str) -> PurePosixPath:
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", ".", "/")]
    if not parts or any(p == ".." for p in parts) or ":" in parts[0]:
        raise ValueError(name)
    return PurePosixPath(*parts)


class ArchiveError(Exception):
    """A zip that cannot be unpacked: ``kind`` is "too big", "damaged" or "password"; the
    message says why in a few words."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


def _extract(archive: Path, dest: Path) -> List[str]:
    try:
        return extract(archive, dest, MAX_UNPACKED_BYTES, MAX_MEMBERS)
    except ArchiveError as exc:
        if exc.kind == "too big":
            raise InputError(f"{archive} {exc}, far more than a class's programs: check that it is "
                             "the right archive.") from None
        if exc.kind == "password":
            raise InputError(f"{archive} could not be unpacked ({exc}): give an archive without a "
                             "password.") from None
        raise InputError(f"{archive} could not be unpacked ({exc}): download it again, or unzip it "
                         "yourself and give the folder.") from None


def is_link(info: zipfile.ZipInfo) -> bool:
    """The member is a symbolic link (its mode, kept by Unix zip tools, says so; other systems'
    tools leave those bits to mean nothing)."""
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def extract(archive: Path, dest: Path, max_bytes: int, max_members: int) -> List[str]:
    """Unpack ``archive`` into ``dest``, safely (see the module docstring); ``ArchiveError`` when
    it cannot be, or would unpack to more than ``max_bytes`` or ``max_members`` files.  Returns
    the members that are links, which are not unpacked, by their path under ``dest``."""
    links: List[str] = []
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            if len(infos) > max_members or sum(i.file_size for i in infos) > max_bytes:
                raise ArchiveError("too big", f"unpacks to more than {max_bytes // 1_000_000} MB or "
                                              f"{max_members} files")
            for info in infos:
                try:
                    rel = _safe_relative(member_name(info))
                except ValueError:
                    continue  # a name that would land outside the folder is never written
                if is_link(info):
                    links.append(rel.as_posix())
                    continue  # its target is another file, maybe not the student's: never made
                target = dest.joinpath(*rel.parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
        return links
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
        raise ArchiveError("damaged", str(exc)) from None
    except RuntimeError as exc:  # encrypted members
        raise ArchiveError("password", str(exc)) from None
