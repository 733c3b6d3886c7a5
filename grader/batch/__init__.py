"""Grade a whole class: ``python -m grader batch SUBMISSIONS``.

``run_batch`` is the command as a function; ``grader.batch.run`` explains the steps and the
module for each.
"""
from typing import Any

__all__ = ["BatchOptions", "run_batch"]


def __getattr__(name: str) -> Any:
    """Loaded on first use: a single grading imports ``grader.batch.roles`` (to tell a client
    from a server), which must not cost it the whole batch machinery."""
    if name in __all__:
        from grader.batch import run

        return getattr(run, name)
    raise AttributeError("module 'grader.batch' has no attribute %r" % name)
