"""Renderers: pure functions from reports to text.

``RENDERERS`` maps a ``--format`` name to ``render(reports, *, color, verbose) -> str`` for the
single-program grader (``reports`` is a list: one report per graded program).
"""
from __future__ import annotations

from typing import Callable, Dict, List

from grader.report.json_report import render_json
from grader.report.junit import render_junit
from grader.report.text import render_text_reports

from grader.results import Report

Renderer = Callable[..., str]

RENDERERS: Dict[str, Renderer] = {
    "text": render_text_reports,
    "json": render_json,
    "junit": render_junit,
}


def render(fmt: str, reports: List[Report], *, color: bool = False, verbose: bool = False) -> str:
    return RENDERERS[fmt](reports, color=color, verbose=verbose)
