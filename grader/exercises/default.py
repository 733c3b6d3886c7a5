"""The lab as data: the shipped exercises, and the names the rest of the grader imports.

Each exercise is a folder holding an ``exercise.json`` (``grader/exercises/<name>/``, format in
docs/exercises.md): its steps per role, message, points and limits.  The engine reads everything
from an ``Exercise``.  Check ids are stable: gradebooks and scripts rely on them, so change
descriptions and points freely but keep the ids.
"""
from __future__ import annotations

import os

from grader.exercises.loader import DEFAULT_EXERCISE, SHIPPED, load_exercise
from grader.exercises.steps import (CLIENT, CONSOLE, COUNTERPART, KERNEL, PROBE, ROLES, SERVER,  # noqa: F401
                          CheckSpec, Exercise, Step)

# The lab `python -m grader server FILE` grades when no --exercise is given.
HELLO_WORLD = load_exercise(os.path.join(SHIPPED, DEFAULT_EXERCISE))
