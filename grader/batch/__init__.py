"""Grade a whole class: ``python -m grader batch SUBMISSIONS``.

``run_batch`` is the command as a function; ``grader.batch.run`` explains the steps and the
module for each.
"""
from grader.batch.run import BatchOptions, run_batch

__all__ = ["BatchOptions", "run_batch"]
