"""Renderers: pure functions from reports to text.

``RENDERERS`` maps a ``--format`` name to the module and function that render it, as
``render(reports, *, color, verbose) -> str`` for the single-program grader (``reports`` is a
list: one report per graded program).  Modules are imported on use: a student's run should not
pay for loading the XML writer.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Callable, Dict, List, Tuple

if TYPE_CHECKING:
    from grader.judging.results import Report

RENDERERS: Dict[str, Tuple[str, str]] = {
    "text": ("grader.report.text", "render_text_reports"),
    "json": ("grader.report.json_report", "render_json"),
    "junit": ("grader.report.junit", "render_junit"),
    "classroom": ("grader.report.classroom", "render_classroom"),
    "html": ("grader.report.program_page", "render_program_page"),  # checklist, diagram, timeline
}


def renderer(fmt: str) -> Callable[..., str]:
    """The render function of ``fmt``, its module loaded; what it returns is always writable
    (``safe_text``: a student's lone surrogates are shown as U+FFFD, in every format alike)."""
    from grader.report.safe_text import writable

    module, function = RENDERERS[fmt]
    render = getattr(importlib.import_module(module), function)
    return lambda *args, **kwargs: writable(render(*args, **kwargs))


def render(fmt: str, reports: List[Report], *, color: bool = False, verbose: bool = False) -> str:
    return renderer(fmt)(reports, color=color, verbose=verbose)
