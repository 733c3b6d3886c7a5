"""What operating systems and tools leave in a folder: never a student's work, never listed.

macOS's ``__MACOSX`` and ``._x`` files, Windows's ``Thumbs.db``, editors' and Python's caches.
Its own module because both the class walk (``discover``) and the unpacking of a student's zip
(``archives``) skip them, and neither should import the other for it.
"""
from __future__ import annotations

from pathlib import Path

_CLUTTER = {"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini", "__pycache__", ".git", ".idea",
            ".vscode", ".ipynb_checkpoints"}


def is_clutter(path: Path) -> bool:
    return path.name in _CLUTTER or path.suffix == ".pyc" or path.name.startswith("._")
