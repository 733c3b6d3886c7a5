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

import re

REPLACEMENT = "\ufffd"
_SURROGATES = re.compile("[\ud800-\udfff]")
# Characters not allowed anywhere in an XML 1.0 document (and errors in HTML).
_NOT_MARKUP = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def writable(text: object) -> str:
    """``text`` with every lone surrogate replaced: encodable as UTF-8, whatever it held."""
    return _SURROGATES.sub(REPLACEMENT, "" if text is None else str(text))


def markup_text(text: object) -> str:
    """``text`` fit for XML 1.0 and HTML: also without control characters other than whitespace."""
    return _NOT_MARKUP.sub(REPLACEMENT, "" if text is None else str(text))
