"""Text from a student's program, made writable: one rule shared by every output.

A Python ``str`` can hold what no file can: lone surrogates.  They come from a program that prints
with ``errors="surrogateescape"``, an exception message decoded that way, or a file name that is
not UTF-8 (``os.listdir`` hands those back as surrogates).  Encoding one raises, so every writer
passes its text through ``writable``: each lone surrogate becomes U+FFFD, the mark the grader
already shows for output bytes that are not UTF-8 (``runner.CapturedStream``).  The mark stays
where the character was: nothing is dropped or shortened.

XML 1.0 also forbids most control characters (NUL, ESC, ...), and HTML calls them errors:
``markup_text`` replaces those too, with the same mark (tab, newline and CR are kept).
"""
from __future__ import annotations

import functools

REPLACEMENT = "\ufffd"
_SURROGATES = "[\ud800-\udfff]"
# Characters not allowed anywhere in an XML 1.0 document (and errors in HTML).
_NOT_MARKUP = "[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]"


@functools.lru_cache(maxsize=None)
def _pattern(characters: str):
    import re  # compiled on first need: most reports hold nothing to replace

    return re.compile(characters)


def writable(text: object) -> str:
    """``text`` with every lone surrogate replaced: encodable as UTF-8, whatever it held."""
    text = "" if text is None else str(text)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return _pattern(_SURROGATES).sub(REPLACEMENT, text)


def markup_text(text: object) -> str:
    """``text`` fit for XML 1.0 and HTML: also without control characters other than whitespace."""
    text = "" if text is None else str(text)
    if text.isascii() and text.replace("\n", "").replace("\t", "").replace("\r", "").isprintable():
        return text
    return _pattern(_NOT_MARKUP).sub(REPLACEMENT, text)
