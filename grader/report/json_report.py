"""The JSON form of one report (or a list of them): ``Report.to_dict()``, serialised."""
from __future__ import annotations

import json
from typing import List

from grader.results import Report


def render_json(reports: List[Report], *, color: bool = False, verbose: bool = False) -> str:
    data = [r.to_dict() for r in reports]
    return json.dumps(data[0] if len(data) == 1 else data, indent=2, ensure_ascii=False) + "\n"
