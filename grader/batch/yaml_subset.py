"""A small, tolerant reader for the YAML that Gradescope writes in ``submission_metadata.yml``.

The runtime is the standard library only, so no PyYAML.  Gradescope's export (written by Ruby's
Psych, on libyaml's emitter) uses block mappings, block sequences of mappings (``- :name: ...``),
plain and quoted scalars, and keys that start with a colon (Ruby symbols, ``:submitters:``).
libyaml folds a plain or quoted scalar that passes its line width (80) over several lines, at
spaces, the further lines indented deeper; Psych writes a string with a line break as a ``|``
block scalar (and as ``>`` when asked for a line width).  This reader joins all of those with
YAML's folding rules: a line break between text is a space, each empty line a line break, the
indentation is not content, a double-quoted line that ends in a backslash joins the next
without a space.
It keeps flow collections (``[...]``/``{...}``) as plain strings and drops tags
(``!ruby/object``); it never raises on odd input: what it cannot read it leaves out, because one
odd field must not stop a class from being graded.

It works in two steps: ``_logical_lines`` turns the text into one line per node, each scalar
that spanned lines already joined (and written back as a one-line double-quoted scalar), then
``_parse_block`` builds the mappings and sequences from the indentation.
"""
from __future__ import annotations

import base64
import re
from typing import Any, Dict, List, Optional, Tuple

_Line = Tuple[int, str]  # (indent, text without the indent)

_DOUBLE_ESCAPES = {"n": "\n", "t": "\t", "\t": "\t", '"': '"', "\\": "\\", "/": "/", "0": "\0",
                   "r": "\r", "e": "\x1b", " ": " ", "a": "\a", "b": "\b", "v": "\v", "f": "\f",
                   "N": "\x85", "_": "\xa0", "L": "\u2028", "P": "\u2029"}
_BLOCK_HEADER = re.compile(r"[|>](?:[1-9][+-]?|[+-][1-9]?)?$")


def parse(text: str) -> Any:
    """Parse ``text``; returns nested dicts, lists and strings (scalars are left as strings)."""
    lines = _logical_lines(text)
    value, _ = _parse_block(lines, 0, 0)
    return value


def _logical_lines(text: str) -> List[_Line]:
    raw = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if raw[-1] == "":  # the text's last line break ends a line, it does not start one
        raw.pop()
    if raw and raw[0].startswith("\ufeff"):
        raw[0] = raw[0][1:]
    lines: List[_Line] = []
    i = 0
    while i < len(raw):
        line = raw[i]
        stripped = line.strip(" \t")
        indent = len(line) - len(line.lstrip(" "))
        i += 1
        if not stripped or stripped.startswith("#") or stripped.startswith("%") \
                or stripped in ("---", "..."):
            continue
        body = line[indent:]
        at, column = _value_start(body)
        prefix, value = body[:at], body[at:]
        if value.startswith("#"):  # "key:   # a comment": no value on this line
            value = ""
        value, binary = _untag(value)
        if value.startswith(("'", '"')):
            joined, i = _quoted(value, raw, i)
        elif _BLOCK_HEADER.match(_strip_comment(value)):
            joined, i = _block_scalar(_strip_comment(value), raw, i, indent + column)
        else:
            value = _strip_comment(value)
            joined, i = _plain(value, raw, i, indent + column)
        if binary:  # Psych writes a string that is not valid text as base64
            joined = _from_base64(joined if joined is not None else _scalar(value))
        if joined is None:
            lines.append((indent, (prefix + value).rstrip(" \t")))
        else:
            lines.append((indent, prefix + _as_double_quoted(joined)))
    return lines


def _untag(value: str) -> Tuple[str, bool]:
    """A scalar's text without its tag (``!binary |-``, ``!ruby/string 'x'``), and whether the
    tag says base64; a tag before anything else (a tagged mapping) stays."""
    tag = re.match(r"(!\S*)[ \t]+", value)
    if tag is None:
        return value, False
    rest = value[tag.end():]
    if not (rest.startswith(("'", '"')) or _BLOCK_HEADER.match(_strip_comment(rest))):
        return value, False
    return rest, tag.group(1) in ("!binary", "!!binary", "!<tag:yaml.org,2002:binary>")


def _from_base64(text: str) -> str:
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except ValueError:  # binascii.Error: not base64 after all, keep the text
        return text
    return data.decode("utf-8", errors="replace")


def _value_start(body: str) -> Tuple[int, int]:
    """Where the scalar of a line starts (after ``- `` markers and a ``key:``), and the column of
    the node it belongs to (the key's, or the last ``-``'s): lines that continue the scalar
    are indented deeper than that column."""
    at = column = 0
    while body[at:at + 2] == "- " or body[at:].rstrip(" \t") == "-":
        column = at
        at += 1
        while body[at:at + 1] == " ":
            at += 1
    end = _key_end(body[at:])
    if end is not None:
        column = at
        at += end
        while body[at:at + 1] == " ":
            at += 1
    return at, column


def _as_double_quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _fold(pieces: List[str]) -> str:
    """YAML's line folding of a scalar's lines (the first and last may be partial): the breaks
    between text become spaces, each empty line a line break; indentation is not content."""
    out = pieces[0]
    blanks = 0
    for n, piece in enumerate(pieces[1:], 1):
        last = n == len(pieces) - 1
        if not piece.strip(" \t") and not last:
            blanks += 1
            continue
        out += ("\n" * blanks if blanks else " ") + piece.lstrip(" \t")
        blanks = 0
    return out


def _quoted(value: str, raw: List[str], i: int) -> Tuple[Optional[str], int]:
    """A quoted scalar starting at ``value`` and perhaps going on over ``raw[i:]``: its text,
    and the next line.  None when it ends on its own line (the one-line reader handles it)."""
    quote = value[0]
    end = _quoted_end(value)
    if end is not None:
        return None, i
    pieces = [value[1:]]
    while i < len(raw):
        line = raw[i]
        i += 1
        end = _quoted_end(quote + line)
        if end is not None:
            pieces.append(line[:end - 1])
            break
        pieces.append(line)
    if quote == "'":
        return _fold([p.rstrip(" \t") if n < len(pieces) - 1 else p
                      for n, p in enumerate(pieces)]).replace("''", "'"), i
    return _unescape_double(_fold_double(pieces)), i


def _fold_double(pieces: List[str]) -> str:
    """Fold a double-quoted scalar's lines, still escaped: a line ending in an unescaped backslash
    joins the next without a space; white space escaped at a line's end stays."""
    out = ""
    fold = False  # whether a plain line break comes before the next piece
    blanks = 0
    for n, piece in enumerate(pieces):
        first, last = n == 0, n == len(pieces) - 1
        if not first:
            piece = piece.lstrip(" \t")
        escaped = False
        if not last:
            if _odd_backslashes(piece):
                piece, escaped = piece[:-1], True
            else:
                stripped = piece.rstrip(" \t")
                if stripped != piece and _odd_backslashes(stripped):
                    stripped = piece[:len(stripped) + 1]  # "\ " at the end is content
                piece = stripped
        if fold and not piece and not last and not escaped:
            blanks += 1  # an empty line: a line break (written as its escape, still escaped text)
            continue
        if fold:
            out += "\\n" * blanks if blanks else " "
        out += piece
        blanks = 0
        fold = not escaped
    return out


def _odd_backslashes(text: str) -> bool:
    return (len(text) - len(text.rstrip("\\"))) % 2 == 1


def _plain(value: str, raw: List[str], i: int, column: int) -> Tuple[Optional[str], int]:
    """A plain scalar and the lines deeper than ``column`` that continue it (a comment line or
    a line at or left of ``column`` ends it)."""
    if not value or value[0] in "[{!&*":
        return None, i
    pieces = [value]
    j = i
    while j < len(raw):
        line = raw[j]
        text = line.strip(" \t")
        if text and (len(line) - len(line.lstrip(" ")) <= column or text.startswith("#")):
            break
        if text in ("---", "...") and not line.startswith(" "):
            break
        j += 1
        pieces.append(_strip_comment(text))
        if text and pieces[-1] != text:  # a comment ends the scalar
            break
    while len(pieces) > 1 and not pieces[-1]:  # empty lines after it are not part of it
        pieces.pop()
        j -= 1
    if len(pieces) == 1:
        return None, i
    return _fold(pieces), j


def _block_scalar(header: str, raw: List[str], i: int, column: int) -> Tuple[str, int]:
    """A ``|`` (literal) or ``>`` (folded) block scalar whose header is ``header``."""
    chomp = "-" if "-" in header else "+" if "+" in header else ""
    digits = [c for c in header if c.isdigit()]
    body: List[str] = []
    j = i
    while j < len(raw):
        line = raw[j]
        if line.strip(" ") and len(line) - len(line.lstrip(" ")) <= column:
            break
        body.append(line)
        j += 1
    content = [b for b in body if b.strip(" ")]
    if digits:
        indent = column + int(digits[0])
    else:
        indent = min((len(b) - len(b.lstrip(" ")) for b in content), default=column + 1)
    lines = [b[indent:] if len(b) > indent else "" for b in body]
    while lines and not lines[-1].strip(" ") and chomp != "+":
        lines.pop()
    if header[0] == "|":
        text = "\n".join(lines)
    else:  # folded: text lines join with a space, an empty line is a break, and the breaks
        # around more-indented lines are kept
        text = ""
        before: Optional[str] = None  # the last text line
        after_empty = False
        for line in lines:
            if not line:
                text += "\n"
                after_empty = True
                continue
            if before is not None:
                kept = before[0] in " \t" or line[0] in " \t"
                text += "\n" if kept else ("" if after_empty else " ")
            text += line
            before, after_empty = line, False
    if chomp != "-" and lines:
        text += "\n"
    return text, j


def _strip_comment(body: str) -> str:
    """Remove a trailing `` # comment`` that is outside quotes (a quote opens a scalar only at
    its start: the ``'`` of a plain ``O'Brien`` is text)."""
    quote = None
    i = 0
    while i < len(body):
        ch = body[i]
        if quote:
            if quote == '"' and ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "'\"" and (i == 0 or body[i - 1] in " \t:-[{,"):
            quote = ch
        elif ch == "#" and i > 0 and body[i - 1] in " \t":
            return body[:i].rstrip(" \t")
        i += 1
    return body.rstrip(" \t")


def _key_end(body: str) -> Optional[int]:
    """Where the value begins after a ``key:`` at the start of ``body`` (the key may be a Ruby
    symbol ``:key`` or quoted), None if ``body`` does not start with a key."""
    if body.startswith(("'", '"')):
        end = _quoted_end(body)
        if end is not None and body[end + 1:end + 2] == ":":
            rest = body[end + 2:]
            if not rest or rest[0] == " ":
                return end + 2
        return None
    start = 1 if body.startswith(":") else 0
    for match in re.finditer(r":(\s|$)", body):
        if match.start() >= start and match.start() > 0:
            if " #" in body[:match.start()]:
                return None  # the colon is in a comment
            return match.start() + 1
    return None


def _split_key(body: str) -> Optional[Tuple[str, str]]:
    """Split ``key: value`` (the key may be a Ruby symbol ``:key`` or quoted); None if no key."""
    end = _key_end(body)
    if end is None:
        return None
    key = body[:end - 1].strip(" \t")
    return (_scalar(key) if key.startswith(("'", '"')) else key), body[end:].strip(" \t")


def _quoted_end(body: str) -> Optional[int]:
    quote = body[0]
    i = 1
    while i < len(body):
        if quote == "'" and body[i] == "'":
            if body[i + 1:i + 2] == "'":
                i += 2
                continue
            return i
        if quote == '"':
            if body[i] == "\\":
                i += 2
                continue
            if body[i] == '"':
                return i
        i += 1
    return None


def _scalar(text: str) -> str:
    text = text.strip(" \t")
    if text.startswith("!"):  # a tag such as !ruby/object:Foo or !binary: drop it
        text = text.split(" ", 1)[1].strip(" \t") if " " in text else ""
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return _unescape_double(text[1:-1])
    if text in ("~", "null"):
        return ""
    return text


def _unescape_double(body: str) -> str:
    out: List[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in ("x", "u", "U"):
                width = {"x": 2, "u": 4, "U": 8}[nxt]
                digits = body[i + 2:i + 2 + width]
                try:
                    out.append(chr(int(digits, 16)))
                    i += 2 + width
                    continue
                except ValueError:
                    pass
            out.append(_DOUBLE_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _parse_block(lines: List[_Line], pos: int, indent: int) -> Tuple[Any, int]:
    """Parse the block starting at ``pos`` whose lines are indented at least ``indent``."""
    if pos >= len(lines) or lines[pos][0] < indent:
        return "", pos
    block_indent, body = lines[pos]
    if body == "-" or body.startswith("- "):
        return _parse_sequence(lines, pos, block_indent)
    if _split_key(body) is not None:
        return _parse_mapping(lines, pos, block_indent)
    # A plain scalar that continues over several lines.
    parts = []
    while pos < len(lines) and lines[pos][0] >= indent:
        parts.append(lines[pos][1])
        pos += 1
    return _scalar(" ".join(parts)), pos


def _parse_mapping(lines: List[_Line], pos: int, indent: int) -> Tuple[Dict[str, Any], int]:
    result: Dict[str, Any] = {}
    while pos < len(lines):
        line_indent, body = lines[pos]
        if line_indent < indent:
            break
        if line_indent > indent:  # stray deeper line we could not attach: skip it
            pos += 1
            continue
        split = _split_key(body)
        if split is None:
            if body == "-" or body.startswith("- "):
                break  # a sequence at the same indent ends this mapping (Psych writes those)
            pos += 1
            continue
        key, rest = split
        pos += 1
        if rest and not rest.startswith("!"):
            result[key] = _scalar(rest)
            continue
        # Value on the next lines: deeper, or a sequence at the same indent (Psych style).
        if pos < len(lines) and (lines[pos][0] > indent or (
                lines[pos][0] == indent and (lines[pos][1] == "-" or lines[pos][1].startswith("- ")))):
            value, pos = _parse_block(lines, pos, lines[pos][0])
            result[key] = value
        else:
            result[key] = _scalar(rest)
    return result, pos


def _parse_sequence(lines: List[_Line], pos: int, indent: int) -> Tuple[List[Any], int]:
    result: List[Any] = []
    while pos < len(lines):
        line_indent, body = lines[pos]
        if line_indent != indent or not (body == "-" or body.startswith("- ")):
            if line_indent > indent:
                pos += 1
                continue
            break
        item = body[1:].lstrip(" ")
        item_indent = indent + (len(body) - len(item))
        if not item:
            pos += 1
            value, pos = _parse_block(lines, pos, indent + 1)
            result.append(value)
            continue
        # "- key: value" starts a mapping whose further keys sit at the item's indent.
        lines[pos] = (item_indent, item)
        value, pos = _parse_block(lines, pos, item_indent)
        result.append(value)
    return result, pos
