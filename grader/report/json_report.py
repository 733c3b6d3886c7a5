"""The JSON form of one report (or a list of them): ``Report.to_dict()``, serialised.

Lone surrogates (see ``safe_text``) would make the text unencodable, and strict JSON readers
refuse them even as ``\\udcff`` escapes: they become U+FFFD, as in every other output."""
from __future__ import annotations

import json
from typing import List

from grader.report.safe_text import writable
from grader.judging.results import Report


def render_json(reports: List[Report], *, color: bool = False, verbose: bool = False) -> str:
    data = [r.to_dict() for r in reports]
    # ensure_ascii=False leaves every surrogate as itself in the text, where writable() finds it.
    return writable(json.dumps(data[0] if len(data) == 1 else data, indent=2, ensure_ascii=False)) + "\n"
