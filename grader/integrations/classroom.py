"""The GitHub Classroom workflow: ``.github/workflows/classroom.yml`` for a template repository.

It has the shape of the workflow Classroom itself generates (the name ``Autograding Tests`` and
the job ``run-autograding-tests`` are what Classroom looks for; on push; not for Classroom's own
bot), with one step per role that runs ``python -m grader ROLE FILE --format classroom`` into the
step's output file, and Classroom's reporter, which reads ``<ID>_RESULTS`` for every id in its
``runners`` and posts the points (see ``grader/report/classroom.py``).

The grader reaches the runner in one of two ways:

* vendored (the default): the template repository holds this ``grader/`` folder beside the
  students' files, so students can also run the grader themselves;
* ``grader_repo``: the workflow checks out the grader's repository at ``grader_ref``, and the
  student's repository beside it (not around it: a program runs in a copy of its own folder,
  which must hold the student's files only).
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path, PurePosixPath
from typing import List, NamedTuple, Optional

from grader.exercises.default import ROLES

REPORTER = "classroom-resources/autograding-grading-reporter@v1"
CHECKOUT = "actions/checkout@v4"
SETUP_PYTHON = "actions/setup-python@v5"
SUBMISSION_DIR = "submission"  # where the student's repository is checked out beside the grader
GRADER_DIR = "grader-src"
DEFAULT_OUT = ".github/workflows/classroom.yml"


class WorkflowError(ValueError):
    """A bad option, said in words a TA can act on."""


class WorkflowOptions(NamedTuple):
    files: dict  # role -> the file to grade, relative to the repository's top folder
    grader_repo: Optional[str] = None  # "owner/name"; None: the grader is vendored
    grader_ref: str = "main"
    python: str = "3.x"
    timeout: Optional[float] = None  # the grader's --timeout per program
    exercise: Optional[str] = None  # a shipped exercise's name; None: Hello World


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar: JSON's string syntax is a subset of it."""
    return json.dumps(text)


def _check_file(role: str, name: str) -> str:
    path = PurePosixPath(name.replace("\\", "/"))  # the runner is Linux: forward slashes
    if (not name or path.is_absolute() or ".." in path.parts or name.startswith("-")
            or any(ord(c) < 32 for c in name)):
        raise WorkflowError("the %s file %r must be a path inside the repository, such as %s.py"
                            % (role, name, role))
    return str(path)


def _check_repo(repo: str) -> str:
    owner, _, name = repo.partition("/")
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    if not owner or not name or not set(owner + name) <= allowed:
        raise WorkflowError("--grader-repo must be OWNER/NAME of a GitHub repository, such as "
                            "my-course/socket-lab-grader (got %r)" % repo)
    return repo


def _check_exercise(name: str) -> str:
    """A shipped exercise's name.  A folder is refused: the workflow runs on GitHub, in the
    student's repository, where a folder of the TA's machine does not exist."""
    from grader.exercises.loader import shipped_names

    if name in shipped_names():
        return name
    raise WorkflowError(
        "--exercise %r: the workflow takes the name of an exercise the grader ships (%s). "
        "For an exercise of your own, copy its folder into grader/exercises/<name>/ of the grader "
        "the workflow uses (the template repository's grader/ folder, or --grader-repo), then "
        "give --exercise <name>." % (name, ", ".join(shipped_names())))


def grading_command(role: str, file: str, options: WorkflowOptions) -> str:
    """The shell line of a role's step: the result line goes to the step's output file, the
    checklist to the log, and it exits 0 whenever a result was written."""
    target = "../%s/%s" % (SUBMISSION_DIR, file) if options.grader_repo else file
    words = ["python", "-m", "grader", role, target, "--format", "classroom"]
    if options.timeout is not None:
        words += ["--timeout", "%g" % options.timeout]
    if options.exercise:
        words += ["--exercise", _check_exercise(options.exercise)]
    return " ".join(shlex.quote(w) for w in words) + ' >> "$GITHUB_OUTPUT"'


def render_workflow(options: WorkflowOptions) -> str:
    roles = [role for role in ROLES if role in options.files]
    options = options._replace(files={role: _check_file(role, options.files[role]) for role in roles})
    lines = [
        "# Written by: python -m grader classroom workflow",
        "# GitHub Classroom reads the points from the reporter step: keep the workflow's name",
        "# and the job's name as they are.",
        "name: Autograding Tests",
        "'on':",
        "- push",
        "- workflow_dispatch",
        "- repository_dispatch",
        "permissions:",
        "  checks: write",
        "  actions: read",
        "  contents: read",
        "jobs:",
        "  run-autograding-tests:",
        "    runs-on: ubuntu-latest",
        "    if: github.actor != 'github-classroom[bot]'",
        "    timeout-minutes: 10",
        "    steps:",
    ]
    if options.grader_repo:
        lines += [
            "    - name: Check out the student's code",
            "      uses: " + CHECKOUT,
            "      with:",
            "        path: " + SUBMISSION_DIR,
            "    - name: Check out the grader",
            "      uses: " + CHECKOUT,
            "      with:",
            "        repository: " + _quoted(_check_repo(options.grader_repo)),
            "        ref: " + _quoted(options.grader_ref),
            "        path: " + GRADER_DIR,
        ]
    else:
        lines += [
            "    - name: Check out the student's code (and the grader/ folder beside it)",
            "      uses: " + CHECKOUT,
        ]
    lines += [
        "    - name: Set up Python",
        "      uses: " + SETUP_PYTHON,
        "      with:",
        "        python-version: " + _quoted(options.python),
    ]
    for role in roles:
        file = options.files[role]
        lines += [
            "    - name: " + _quoted("Grade the %s (%s)" % (role, file)),
            "      id: " + role,
            "      timeout-minutes: 5",
        ]
        if options.grader_repo:
            lines.append("      working-directory: " + GRADER_DIR)
        lines.append("      run: " + _quoted(grading_command(role, file, options)))
    lines += [
        "    - name: Autograding Reporter",
        "      uses: " + REPORTER,
        "      env:",
    ]
    # The reporter reads <ID upper-cased>_RESULTS for each id in runners (ids: letters and digits).
    lines += ['        %s_RESULTS: "${{steps.%s.outputs.result}}"' % (role.upper(), role) for role in roles]
    lines += [
        "      with:",
        "        runners: " + ",".join(roles),
    ]
    return "\n".join(lines) + "\n"


def write_workflow(out: Path, options: WorkflowOptions, force: bool = False) -> Path:
    """Write the workflow to ``out``; an existing file is replaced only with ``force``."""
    text = render_workflow(options)  # every option is checked before anything is written
    if out.is_dir():
        raise WorkflowError("%s is a folder; give the path of the file to write, such as %s"
                            % (out, DEFAULT_OUT))
    if out.exists() and not force:
        raise WorkflowError("%s already exists; add --force to replace it" % out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out


def next_steps(out: Path, options: WorkflowOptions) -> List[str]:
    """What the TA does next, printed after the file is written."""
    steps = ["wrote %s" % out]
    if options.grader_repo:
        steps.append("The workflow checks out %s at %s: students' runs need read access to it "
                     "(a public repository, or one in the classroom's organization)."
                     % (options.grader_repo, options.grader_ref))
    else:
        steps.append("Copy this grader/ folder into the template repository's top folder, beside "
                     + " and ".join(options.files[r] for r in ROLES if r in options.files) + ".")
    steps.append("Commit .github/workflows/classroom.yml to the template repository; every "
                 "student's push is then graded, with partial credit.")
    return steps
