"""Who sees what on Gradescope: each check's ``visibility`` and the score-only mode.

Chosen at build time (``gradescope build --visibility CHECK=WHEN --score-only``), stored as
``gradescope.json`` beside ``run_autograder`` in the zip, and read by ``gradescope run``.
Gradescope's four values: ``visible`` (always), ``after_due_date``, ``after_published`` (when the
instructor publishes grades) and ``hidden`` (never shown to students).  The same file names the
exercise the zip grades (``gradescope build --exercise``) when it is not Hello World.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Iterable, NamedTuple

from grader.exercises.default import HELLO_WORLD, ROLES, Exercise

VISIBLE, HIDDEN = "visible", "hidden"
WHEN = (VISIBLE, "after_due_date", "after_published", HIDDEN)
CONFIG_NAME = "gradescope.json"  # beside run_autograder, in /autograder/source


def check_ids(exercise: Exercise = HELLO_WORLD) -> Dict[str, str]:
    """Every check id, with its role."""
    return {spec.id: role for role in ROLES for spec in exercise.specs(role)}


class Settings(NamedTuple):
    default: str = VISIBLE
    checks: Dict[str, str] = {}  # check id -> visibility, where it differs from ``default``
    score_only: bool = False
    # The exercise the zip grades: a shipped name, or its folder relative to gradescope.json;
    # "": Hello World (and a zip built before --exercise).
    exercise: str = ""

    def of(self, check_id: str) -> str:
        return self.checks.get(check_id, self.default)

    def shows(self, shown_with: str, check_id: str) -> bool:
        """May a test shown as ``shown_with`` mention ``check_id``?  Only when that check is
        shown at least as early (``after_due_date`` and ``after_published`` are not ordered:
        an instructor may publish before the due date, or never)."""
        other = self.of(check_id)
        return other == VISIBLE or other == shown_with or shown_with == HIDDEN

    @property
    def anything_held_back(self) -> bool:
        return self.default != VISIBLE or any(v != VISIBLE for v in self.checks.values())

    def to_json(self) -> str:
        data = {"visibility": {"default": self.default, "checks": self.checks},
                "score_only": self.score_only}
        if self.exercise:
            data["exercise"] = self.exercise
        return json.dumps(data, indent=1, sort_keys=True) + "\n"


def _when(text: str, where: str) -> str:
    if text not in WHEN:
        raise ValueError(f"{where}: {text!r} is not a Gradescope visibility; use one of "
                         + ", ".join(WHEN))
    return text


def from_options(choices: Iterable[str], score_only: bool = False,
                 exercise: Exercise = HELLO_WORLD) -> Settings:
    """Settings from ``--visibility`` values: ``WHEN`` (every check) or ``CHECK=WHEN``, where
    CHECK is a check id (``server.closes``) of ``exercise`` or a role (``client``: each of its
    checks).  Later choices win over earlier ones; a choice for one check wins over a default or
    a role.  (``build_autograder`` records the exercise itself.)"""
    ids = check_ids(exercise)
    default = VISIBLE
    by_role: Dict[str, str] = {}
    by_check: Dict[str, str] = {}
    for choice in choices:
        if "=" not in choice:
            default = _when(choice.strip(), f"--visibility {choice}")
            continue
        name, _, when = (part.strip() for part in choice.partition("="))
        when = _when(when, f"--visibility {choice}")
        if name in ROLES:
            by_role[name] = when
        elif name in ids:
            by_check[name] = when
        else:
            raise ValueError(f"--visibility {choice}: there is no check {name!r}; the checks are "
                             + ", ".join(ids) + " (or a whole role: " + ", ".join(ROLES) + ")")
    checks = {}
    for check_id, role in ids.items():
        when = by_check.get(check_id, by_role.get(role, default))
        if when != default:
            checks[check_id] = when
    return Settings(default, checks, score_only)


def warnings(settings: Settings, exercise: Exercise = HELLO_WORLD) -> Iterable[str]:
    """What the instructor should know about these settings (Gradescope's own rules)."""
    hidden = [c for c in check_ids(exercise) if settings.of(c) == HIDDEN]
    later = [c for c in check_ids(exercise) if settings.of(c) not in (VISIBLE, HIDDEN)]
    if hidden and not later:  # Gradescope holds the total back only for after_* tests
        yield ("note: Gradescope still counts the points of 'hidden' tests in the total score "
               "and shows that total to students, so they can work out how the hidden checks went "
               "(" + ", ".join(hidden) + "); 'after_due_date' or 'after_published' hold the total "
               "back too.")


def stored_exercise(settings: Settings, folder: Path) -> Exercise:
    """The exercise ``settings`` names, a folder of it relative to ``folder`` (where the settings
    file is); ValueError when it cannot be read."""
    from grader.exercises.loader import ExerciseError, find_exercise, shipped_names

    if not settings.exercise:
        return HELLO_WORLD
    name = settings.exercise
    try:
        return find_exercise(name if name in shipped_names() else str(Path(folder) / name))
    except ExerciseError as error:
        raise ValueError(f"the exercise of this zip: {error}") from None


def load(path: Path) -> Settings:
    """The settings stored in the zip; the defaults when there is no such file (a zip built
    before this existed).  A broken file raises ValueError: it was not written by us."""
    path = Path(path)
    if not path.exists():
        return Settings()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        visibility = data["visibility"]
        default = _when(visibility["default"], str(path))
        exercise = data.get("exercise", "")
        if not isinstance(exercise, str):
            raise ValueError(f"{path}: exercise must be a name or a folder")
        ids = check_ids(stored_exercise(Settings(exercise=exercise), path.parent))
        checks = {}
        for check_id, when in dict(visibility.get("checks", {})).items():
            if check_id not in ids:
                raise ValueError(f"{path}: there is no check {check_id!r}")
            checks[check_id] = _when(when, str(path))
        score_only = data.get("score_only", False)
        if not isinstance(score_only, bool):
            raise ValueError(f"{path}: score_only must be true or false")
    except (OSError, TypeError, KeyError, AttributeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a settings file of `gradescope build`: {error}") from None
    return Settings(default, checks, score_only, exercise)
