"""Open what the TA passed as SUBMISSIONS: a folder as it is, or a .zip unpacked to a temp folder.

Zips come from Canvas, Gradescope or a TA's own archive tool, so the reader is defensive: member
names that try to leave the folder ("../x", "/etc/x") are refused, sizes are capped against zip
bombs, and names stored in the old DOS encoding are repaired when they are really UTF-8 (macOS and
many Windows tools store non-ASCII names that way).
"""
from __future__ import annotations

import contextlib
import shutil
import zipfile
from pathlib import Path, PurePosixPath
from typing import Iterator

from grader import tempdirs
from grader.inputs import InputError

MAX_UNPACKED_BYTES = 1_000_000_000  # a class of 400 small programs is a few MB
MAX_MEMBERS = 50_000


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
        _extract(path, temp)
        yield temp
    finally:
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


def _extract(archive: Path, dest: Path) -> None:
    try:
        extract(archive, dest, MAX_UNPACKED_BYTES, MAX_MEMBERS)
    except ArchiveError as exc:
        if exc.kind == "too big":
            raise InputError(f"{archive} {exc}, far more than a class's programs: check that it is "
                             "the right archive.") from None
        if exc.kind == "password":
            raise InputError(f"{archive} could not be unpacked ({exc}): give an archive without a "
                             "password.") from None
        raise InputError(f"{archive} could not be unpacked ({exc}): download it again, or unzip it "
                         "yourself and give the folder.") from None


def extract(archive: Path, dest: Path, max_bytes: int, max_members: int) -> None:
    """Unpack ``archive`` into ``dest``, safely (see the module docstring); ``ArchiveError`` when
    it cannot be, or would unpack to more than ``max_bytes`` or ``max_members`` files."""
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
                target = dest.joinpath(*rel.parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
        raise ArchiveError("damaged", str(exc)) from None
    except RuntimeError as exc:  # encrypted members
        raise ArchiveError("password", str(exc)) from None
