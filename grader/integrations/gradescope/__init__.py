"""Gradescope: build the autograder zip, and grade one submission inside Gradescope.

``python -m grader gradescope build`` writes ``autograder.zip`` (``build``); Gradescope then runs
``python -m grader gradescope run`` in its own container for each submission (``run``), which
writes ``results/results.json`` in Gradescope's format (``results``).
"""
