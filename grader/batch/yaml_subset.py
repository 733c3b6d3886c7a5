"""A small, tolerant reader for the YAML that Gradescope writes in ``submission_metadata.yml``.

The runtime is the standard library only, so no PyYAML.  Gradescope's export (written by Ruby's
Psych) uses block mappings, block sequences of mappings (``- :name: ...``), plain and quoted
scalars, and keys that start with a colon (Ruby symbols, ``:submitters:``).  This reader handles
exactly that, keeps flow collections (``[...]``/``{...}``) as plain strings, skips block scalars
(``|``/``>``) and tags (``!ruby/object``), and never raises on odd input: what it cannot read it
leaves out, because one odd field must not stop a class from being graded.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

_Line = Tuple[int, str]  # (indent, text without the indent)

_DOUBLE_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "/": "/", "0": "\0", "r": "\r",
                   "e": "\x1b", " ": " "}


def parse(text: str) -> Any:
    """Parse ``text``; returns nested dicts, lists and strings (scalars are left as strings)."""
    lines = _logical_lines(text)
    value, _ = _parse_block(lines, 0, 0)
    return value


def _logical_lines(text: str) -> List[_Line]:
    lines: List[_Line] = []
    skip_deeper_than: Optional[int] = None  # inside a block scalar: skip its lines
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if raw.startswith("\ufeff"):
            raw = raw[1:]
        stripped = raw.strip()
        indent = len(raw) - len(raw.lstrip(" "))
        if skip_deeper_than is not None:
            if not stripped or indent > skip_deeper_than:
                continue
            skip_deeper_than = None
        if not stripped or stripped.startswith("#") or stripped in ("---", "..."):
            continue
        if stripped.startswith("%"):  # directives such as %YAML 1.1
            continue
        body = _strip_comment(raw[indent:])
        if re.search(r"(^|[:\-]\s*)[|>][+-]?\d*$", body):
            skip_deeper_than = indent
            body = re.sub(r"[|>][+-]?\d*$", "", body).rstrip()
            if body.endswith(":") or body == "-":
                body += " ''"  # a block scalar we do not keep
        lines.append((indent, body))
    return lines


def _strip_comment(body: str) -> str:
    """Remove a trailing `` # comment`` that is outside quotes."""
    quote = None
    for i, ch in enumerate(body):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and i > 0 and body[i - 1] in " \t":
            return body[:i].rstrip()
    return body.rstrip()


def _split_key(body: str) -> Optional[Tuple[str, str]]:
    """Split ``key: value`` (the key may be a Ruby symbol ``:key`` or quoted); None if no key."""
    if body.startswith(("'", '"')):
        end = _quoted_end(body)
        if end is not None and body[end + 1:end + 2] == ":":
            rest = body[end + 2:]
            if not rest or rest[0] == " ":
                return _scalar(body[:end + 1]), rest.strip()
        return None
    start = 1 if body.startswith(":") else 0
    for match in re.finditer(r":(\s|$)", body):
        if match.start() >= start and match.start() > 0:
            return body[:match.start()].strip(), body[match.end():].strip()
    return None


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
    text = text.strip()
    if text.startswith("!"):  # a tag such as !ruby/object:Foo or !binary: drop it
        text = text.split(" ", 1)[1].strip() if " " in text else ""
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
