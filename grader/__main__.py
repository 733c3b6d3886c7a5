"""Command line: parses arguments and hands the work to the modules that do it.

Grading one program starts it before loading the judging half of the grader, which then loads
while the program's interpreter starts: so imports here stay few and light.
"""
from __future__ import annotations

import argparse
import enum
import os
import sys
from typing import List, Optional

from grader.running.launch import RUNS


class ExitCode(enum.IntEnum):
    FULL_MARKS = 0
    CHECKS_FAILED = 1
    BAD_INPUT = 2
    GRADER_ERROR = 3


def _parser() -> argparse.ArgumentParser:
    from grader.report import RENDERERS

    parser = argparse.ArgumentParser(
        prog="python -m grader",
        description="Grade socket-programming labs: TCP Hello World unless --exercise names another (see: exercises).",
        epilog="Example: python -m grader server myserver.py")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for role in RUNS:  # the roles: server, client
        sub = commands.add_parser(role, help="grade a %s program against the reference %s"
                                  % (role, "client" if role == "server" else "server"))
        sub.add_argument("file", help="the .py file to grade")
        sub.add_argument("--format", choices=sorted(RENDERERS), default="text",
                         help="output format (default: text)")
        sub.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                         help="time limit for the program (default: 5)")
        sub.add_argument("--strict", action="store_true",
                         help="console lines must match the handout to the letter")
        sub.add_argument("--verbose", "-v", action="store_true",
                         help="also show a timeline of prints and socket calls, and the output")
        sub.add_argument("--sandbox", action="store_true",
                         help="run the program in its own network, process and file-system "
                              "namespaces (Linux; see docs/containment.md)")
        sub.add_argument("--exercise", default=None, metavar="NAME",
                         help="the exercise to grade in: a name from `python -m grader exercises`, "
                              "or the path of a folder holding an exercise.json (default: hello)")
        sub.add_argument("--watch", action="store_true",
                         help="grade again each time the file (or a .py file beside it) is saved; "
                              "Ctrl-C to stop")
        sub.add_argument("--stress", action="store_true",
                         help="also run against counterparts that behave legally but less kindly "
                              "(a Robustness section; the score is unchanged)")
    pair = commands.add_parser(
        "pair", help="run a student's server against a student's client and explain what happened",
        description="Run SERVER_FILE and CLIENT_FILE against each other (loopback) and show one "
        "timeline of both, what crossed the connection, and which side broke the conversation. "
        "No score. Exit 0 when the client printed what the server sent, as text.")
    pair.add_argument("server_file", help="the server's .py file")
    pair.add_argument("client_file", help="the client's .py file")
    pair.add_argument("--exercise", default=None, metavar="NAME",
                      help="the exercise (default: hello)")
    pair.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                      help="time limit for the pair (default: the exercise's)")
    pair.set_defaults(handler=_pair)
    listing = commands.add_parser("exercises", help="list the exercises, a line each")
    listing.set_defaults(handler=_exercises)
    selftest = commands.add_parser(
        "selftest", help="grade an exercise's reference programs, templates and fixtures, and "
        "say what disagrees with what they should get",
        description="Grade the exercise's reference solutions (full marks), its templates (zero) "
        "and every fixture (the verdicts its docstring declares). Exit 0 only if all agree.")
    selftest.add_argument("exercise", nargs="?", default=None, metavar="EXERCISE",
                          help="a name or a folder (default: every shipped exercise)")
    selftest.add_argument("-j", "--jobs", type=_jobs, default=None, metavar="N",
                          help="programs graded at once (default: 8)")
    selftest.set_defaults(handler=_selftest)
    partner = commands.add_parser(
        "partner", help="be your lab partner on the real network: the reference server or client",
        description="Run the exercise's reference server or client on this computer's network, for "
        "the two-computer lab, and say in plain words what happened on the wire. Exit 0 when the "
        "exchange went as the exercise says, 1 otherwise.")
    sides = partner.add_subparsers(dest="side", metavar="SIDE")
    sides.required = True
    partner_server = sides.add_parser("server", help="listen as the reference server; a partner's "
                                      "client connects to it")
    partner_server.add_argument("--port", type=_port, default=None, metavar="P",
                                help="the port to listen on (default: 12345, the handout's)")
    partner_server.add_argument("--bind", default="", metavar="ADDRESS",
                                help="listen on this address only (default: every address of this computer)")
    how_many = partner_server.add_mutually_exclusive_group()
    how_many.add_argument("--count", type=_count, default=1, metavar="N",
                          help="stop after N exchanges (default: 1)")
    how_many.add_argument("--forever", action="store_true", help="serve until Ctrl-C")
    partner_client = sides.add_parser("client", help="connect as the reference client to a "
                                      "partner's server at HOST PORT")
    partner_client.add_argument("host", metavar="HOST", help="the server computer's IP address or name")
    partner_client.add_argument("port", type=_port, metavar="PORT", help="the port its server listens on")
    for sub in (partner_server, partner_client):
        sub.add_argument("--exercise", default=None, metavar="NAME",
                         help="the exercise whose conversation to have (default: hello)")
        sub.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                         help="how long to wait for the other side once connected (default: 10)")
    partner.set_defaults(handler=_partner)
    batch = commands.add_parser("batch", help="grade a whole class from a folder or .zip of submissions",
                                description="Grade every student's server and client. SUBMISSIONS is a "
                                "folder or .zip: one folder per student, a Canvas or a Gradescope export.")
    batch.add_argument("submissions", metavar="SUBMISSIONS", help="the folder or .zip of submissions")
    batch.add_argument("--out", default="grader-results", metavar="DIR",
                       help="where to write grades.csv, report.html, results.json, feedback/ "
                       "(default: grader-results)")
    batch.add_argument("-j", "--jobs", type=_jobs, default=None, metavar="N",
                       help="programs graded at once (default: many, as grading mostly waits)")
    batch.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                       help="time limit for each program (default: 5)")
    batch.add_argument("--strict", action="store_true",
                       help="console lines must match the handout to the letter")
    batch.add_argument("--force", action="store_true",
                       help="regrade everyone, not only students whose files changed")
    batch.add_argument("--sandbox", dest="sandbox", action="store_true", default=None,
                       help="run each program in its own network, process and file-system "
                            "namespaces (Linux; the default where available; see docs/containment.md)")
    batch.add_argument("--no-sandbox", dest="sandbox", action="store_false",
                       help="do not sandbox (faster; for submissions you trust)")
    batch.add_argument("--format", choices=["text", "junit"], default="text",
                       help="junit: also write junit.xml (default: text)")
    batch.add_argument("--single-student", action="store_true",
                       help="grade SUBMISSIONS even when it looks like one student with many "
                            "Python files (refused otherwise: usually a class in the wrong place)")
    batch.add_argument("--canvas-assignment", type=_canvas_assignment, default=None, metavar="NAME",
                       help='the assignment column of canvas-import.csv (written for a Canvas '
                       'export), e.g. "Lab 1 (12345)" with the id from the assignment\'s address '
                       '(default: the lab\'s name, which Canvas offers to create or match)')
    _exercise_option(batch)
    batch.set_defaults(handler=_batch)
    gradescope = commands.add_parser("gradescope", help="build or run the Gradescope autograder")
    actions = gradescope.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    build = actions.add_parser("build", help="write the autograder zip to upload to Gradescope")
    build.add_argument("--out", default="autograder.zip", metavar="FILE",
                       help="where to write the zip (default: autograder.zip)")
    build.add_argument("--visibility", action="append", default=[], metavar="[CHECK=]WHEN",
                       help="when students see a check's test: visible, after_due_date, "
                            "after_published or hidden; CHECK is a check id (server.closes) or a "
                            "role (client), no CHECK sets every check; repeat for several")
    build.add_argument("--score-only", action="store_true",
                       help="tests show their name, score and pass/fail only: no expected "
                            "output, what happened or hints")
    _exercise_option(build)
    build.set_defaults(handler=_gradescope_build)
    run = actions.add_parser("run", help="grade one submission (what Gradescope runs)")
    run.add_argument("--root", default="/autograder", metavar="DIR",
                     help="Gradescope's autograder folder (default: /autograder)")
    run.set_defaults(handler=_gradescope_run)
    classroom = commands.add_parser("classroom", help="set up GitHub Classroom autograding")
    classroom_actions = classroom.add_subparsers(dest="action", metavar="ACTION")
    classroom_actions.required = True
    workflow = classroom_actions.add_parser(
        "workflow", help="write the GitHub Actions workflow for the assignment's template repository",
        description="Write .github/workflows/classroom.yml: it grades the students' server and "
        "client on every push and reports the points, with partial credit, to GitHub Classroom.")
    workflow.add_argument("--out", default=".github/workflows/classroom.yml", metavar="FILE",
                          help="where to write it (default: .github/workflows/classroom.yml)")
    workflow.add_argument("--server", default="server.py", metavar="FILE",
                          help="the students' server file, in their repository (default: server.py)")
    workflow.add_argument("--client", default="client.py", metavar="FILE",
                          help="the students' client file, in their repository (default: client.py)")
    workflow.add_argument("--grader-repo", default=None, metavar="OWNER/NAME",
                          help="check the grader out of this GitHub repository (default: the "
                               "template repository holds the grader/ folder itself)")
    workflow.add_argument("--grader-ref", default="main", metavar="REF",
                          help="branch, tag or commit of --grader-repo (default: main)")
    workflow.add_argument("--python", default="3.x", metavar="VERSION",
                          help="the Python that actions/setup-python installs (default: 3.x)")
    workflow.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                          help="time limit for each program (default: 5)")
    workflow.add_argument("--force", action="store_true", help="replace the file if it exists")
    workflow.add_argument("--exercise", default=None, metavar="NAME",
                          help="grade this shipped exercise (see `python -m grader exercises`; "
                               "default: hello)")
    workflow.set_defaults(handler=_classroom_workflow)
    return parser


def _exercise_option(command) -> None:
    command.add_argument("--exercise", default=None, metavar="NAME",
                         help="the exercise to grade in: a name from `python -m grader exercises`, "
                              "or the path of a folder holding an exercise.json (default: hello)")


def _chosen_exercise(args):
    """The exercise ``--exercise`` names (Hello World without it); None after saying why not."""
    from grader.exercises.loader import DEFAULT_EXERCISE, ExerciseError, find_exercise

    try:
        return find_exercise(args.exercise or DEFAULT_EXERCISE)
    except ExerciseError as exc:
        print("grader: %s" % exc, file=sys.stderr)
        return None


def _classroom_workflow(args) -> int:
    from pathlib import Path

    from grader.integrations.classroom import WorkflowError, WorkflowOptions, next_steps, write_workflow

    options = WorkflowOptions(files={"server": args.server, "client": args.client},
                              grader_repo=args.grader_repo, grader_ref=args.grader_ref,
                              python=args.python, timeout=args.timeout, exercise=args.exercise)
    try:
        out = write_workflow(Path(args.out), options, force=args.force)
    except WorkflowError as exc:
        print("grader: %s" % exc, file=sys.stderr)
        return ExitCode.BAD_INPUT
    print("\n".join(next_steps(out, options)))
    return ExitCode.FULL_MARKS


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a whole number" % text) from None
    if not 1 <= value <= 512:
        raise argparse.ArgumentTypeError("-j must be between 1 and 512")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a port number" % text) from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is a number from 1024 to 65535 (0: any free one)")
    return value


def _count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 10000:
        raise argparse.ArgumentTypeError("--count takes a whole number from 1 to 10000 (or use --forever)")
    return int(text)


def _partner(args) -> int:
    from grader.labday import partner
    from grader.exercises.loader import ExerciseError, find_exercise

    try:
        exercise = find_exercise(args.exercise or "hello")
    except ExerciseError as exc:
        print("grader: %s" % exc, file=sys.stderr)
        return ExitCode.BAD_INPUT
    timeout = args.timeout or partner.DEFAULT_TIMEOUT
    if args.side == "server":
        port = partner.DEFAULT_PORT if args.port is None else args.port
        return partner.serve(exercise, port, args.bind, None if args.forever else args.count, timeout)
    return partner.connect(exercise, args.host, args.port, timeout)


def _canvas_assignment(text: str) -> str:
    from grader.integrations.canvas import check_assignment_name
    from grader.running.inputs import InputError

    try:
        return check_assignment_name(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _batch(args) -> int:
    from pathlib import Path

    from grader.batch import BatchOptions, run_batch
    from grader.batch.run import INTERRUPTED, sigterm_as_interrupt

    exercise = _chosen_exercise(args)
    if exercise is None:
        return ExitCode.BAD_INPUT
    # SIGTERM is Ctrl-C here too: a stopped batch removes its folders and says so.  Once grading
    # has begun, run_batch handles both itself and writes what is done.
    try:
        with sigterm_as_interrupt():
            return run_batch(Path(args.submissions), BatchOptions(
                out=Path(args.out), jobs=args.jobs, timeout=args.timeout, strict=args.strict,
                sandbox=_sandbox(args.sandbox), force=args.force, junit=args.format == "junit",
                single_student=args.single_student,
                canvas_assignment=args.canvas_assignment, exercise=exercise))
    except KeyboardInterrupt:
        print("grader: stopped (Ctrl-C or SIGTERM) before any program was graded; nothing was "
              "written.", file=sys.stderr)
        return INTERRUPTED


def _sandbox(requested: Optional[bool]) -> bool:
    """Whether to sandbox: asked for (True), refused (False), or where available (None).
    When it cannot be had, say so and which protections still hold, and go on without."""
    if requested is False:
        return False
    from grader.running import sandbox as sandboxing

    available, reason = sandboxing.available()
    if not available:
        print("grader: %s" % sandboxing.unavailable_message(reason), file=sys.stderr)
    return available


def _pair(args) -> int:
    from pathlib import Path

    from grader.exercises.default import HELLO_WORLD
    from grader.exercises.loader import ExerciseError, find_exercise
    from grader.running.inputs import InputError, read_program
    from grader.labday.pair import explain, render, run_pair

    try:
        exercise = find_exercise(args.exercise) if args.exercise is not None else HELLO_WORLD
        for name in (args.server_file, args.client_file):
            read_program(Path(name))
    except (ExerciseError, InputError) as exc:
        print("grader: %s" % exc, file=sys.stderr)
        return ExitCode.BAD_INPUT
    timeout = args.timeout if args.timeout is not None else exercise.time_limit
    run = run_pair(Path(args.server_file), Path(args.client_file), exercise, timeout)
    if exercise.transport == "udp":
        from grader.labday.pair_udp import explain_datagrams as explain
    explanation = explain(run, exercise)
    from grader.report.safe_text import writable

    sys.stdout.write(writable(render(run, explanation, exercise, args.server_file, args.client_file)))
    return ExitCode.FULL_MARKS if explanation.matched else ExitCode.CHECKS_FAILED


def _exercises(args) -> int:
    from grader.exercises.loader import SHIPPED, load_exercise, shipped_names

    import os
    for name in shipped_names():
        exercise = load_exercise(os.path.join(SHIPPED, name))
        checks = sum(len(exercise.specs(role)) for role in exercise.checks)
        print("%-10s %s (%s; %d checks)%s" % (name, exercise.name, exercise.transport.upper(), checks,
                                             "  [default]" if name == "hello" else ""))
    return ExitCode.FULL_MARKS


def _selftest(args) -> int:
    from grader.exercises.loader import ExerciseError, find_exercise, shipped_names
    from grader.exercises.selftest import run_selftest

    try:
        exercises = [find_exercise(n) for n in ([args.exercise] if args.exercise else shipped_names())]
    except ExerciseError as exc:
        print("grader: %s" % exc, file=sys.stderr)
        return ExitCode.BAD_INPUT
    agree = True
    for exercise in exercises:
        agree = run_selftest(exercise, jobs=args.jobs or 8, out=sys.stdout) and agree
    return ExitCode.FULL_MARKS if agree else ExitCode.CHECKS_FAILED


def _gradescope_build(args) -> int:
    from grader.integrations.gradescope.build import build_autograder
    from grader.integrations.gradescope.visibility import from_options, warnings

    exercise = _chosen_exercise(args)
    if exercise is None:
        return ExitCode.BAD_INPUT
    try:
        settings = from_options(args.visibility, args.score_only, exercise)
    except ValueError as error:
        print("grader: %s" % error, file=sys.stderr)
        return ExitCode.BAD_INPUT
    for warning in warnings(settings, exercise):
        print("grader: %s" % warning, file=sys.stderr)
    print("wrote %s: upload it as the autograder of the Gradescope assignment (%s)"
          % (build_autograder(args.out, settings, exercise), exercise.name))
    return ExitCode.FULL_MARKS


def _gradescope_run(args) -> int:
    from grader.integrations.gradescope.run import run_in_gradescope

    return run_in_gradescope(args.root)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number of seconds" % text) from None
    if not 0.1 <= value <= 600:
        raise argparse.ArgumentTypeError("the time limit must be between 0.1 and 600 seconds")
    return value


def _use_color(stream) -> bool:
    if os.environ.get("NO_COLOR") or not hasattr(stream, "isatty") or not stream.isatty():
        return False
    return os.name != "nt" or bool(os.environ.get("WT_SESSION") or os.environ.get("TERM"))


def _grade_one(args) -> int:
    from pathlib import Path

    from grader.running.inputs import InputError, read_program
    from grader.running.launch import start_program

    if args.watch:
        return _watch(args)
    path = Path(args.file)
    started = []
    exercise = None
    try:
        if args.exercise is not None:  # a small JSON file: read before anything starts
            from grader.exercises.loader import ExerciseError, find_exercise
            try:
                exercise = find_exercise(args.exercise)
            except ExerciseError as exc:
                print("grader: %s" % exc, file=sys.stderr)
                return ExitCode.BAD_INPUT
        read_program(path)  # a file that cannot be graded is said so before anything starts
        sandbox = _sandbox(args.sandbox or False)
        # Start the program first: the rest of the grader loads while its interpreter starts.
        started = [start_program(path, sandbox) for _ in range(RUNS[args.command])]
        from grader.grading import GradeOptions, grade_file
        from grader.report import renderer

        render = renderer(args.format)
        more = {"exercise": exercise} if exercise is not None else {}
        report = grade_file(args.command, path, GradeOptions(
            timeout=args.timeout, strict=args.strict, sandbox=sandbox, stress=args.stress),
            started=started, **more)
    except InputError as exc:
        print("grader: %s" % exc, file=sys.stderr)
        if args.format == "classroom":  # the student still gets 0 of the role's points, and why
            from grader.report.classroom import render_ungradable

            chosen = {"exercise": exercise, "given": args.exercise} if exercise is not None else {}
            sys.stdout.write(render_ungradable(args.command, args.file, str(exc), **chosen))
            return _CLASSROOM_RESULT_WRITTEN
        return ExitCode.BAD_INPUT
    finally:
        for run in started:
            run.discard()  # only does something to a run the grading did not adopt
    # The classroom result's commands carry --exercise as given, for the student to rerun.
    given = {"exercise": args.exercise} if args.format == "classroom" and args.exercise else {}
    sys.stdout.write(render([report], color=_use_color(sys.stdout), verbose=args.verbose, **given))
    if args.format == "classroom":  # stdout is the step's output file: the checklist goes to the log
        from grader.report import render as render_as

        sys.stderr.write(render_as("text", [report], color=_use_color(sys.stderr), verbose=args.verbose))
        return _CLASSROOM_RESULT_WRITTEN
    return ExitCode.FULL_MARKS if report.full_marks else ExitCode.CHECKS_FAILED


def _watch(args) -> int:
    from pathlib import Path

    from grader.grading import GradeOptions
    from grader.report import renderer
    from grader.labday.watch import watch

    if args.format != "text":
        print("grader: --watch shows the checklist (--format text); it cannot be combined with "
              "--format %s" % args.format, file=sys.stderr)
        return ExitCode.BAD_INPUT
    exercise = None
    if args.exercise is not None:
        from grader.exercises.loader import ExerciseError, find_exercise
        try:
            exercise = find_exercise(args.exercise)
        except ExerciseError as exc:
            print("grader: %s" % exc, file=sys.stderr)
            return ExitCode.BAD_INPUT
    render = renderer("text")
    options = GradeOptions(timeout=args.timeout, strict=args.strict, sandbox=_sandbox(args.sandbox or False))
    return watch(args.command, Path(args.file), exercise=exercise, options=options,
                 render=lambda report: render([report], color=_use_color(sys.stdout), verbose=args.verbose))


# --format classroom: the step succeeds whenever it wrote its result, whatever the score.  A failed
# step would skip the steps after it (the other role, the reporter) and the points would be lost;
# the reporter fails the run itself when a check failed, so the student still sees a red mark.
_CLASSROOM_RESULT_WRITTEN = 0


def main(argv: Optional[List[str]] = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a student's output must never crash our printing
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args) if hasattr(args, "handler") else _grade_one(args))
    except KeyboardInterrupt:
        print("grader: interrupted", file=sys.stderr)
        return ExitCode.GRADER_ERROR
    except Exception as exc:  # a bug of ours: short message, details only on request
        print("grader: internal error (%s: %s). This is a bug in the grader, not in your program;"
              " please report it with the file you graded." % (type(exc).__name__, exc), file=sys.stderr)
        if os.environ.get("GRADER_DEBUG"):
            raise
        return ExitCode.GRADER_ERROR


def _exit_without_teardown(code: int) -> None:
    """Exit at once.  For one program's grading only: by now every process, pipe and folder it
    used is cleaned up and only daemon threads are left, so the interpreter's teardown (20-50 ms
    on a lab machine, as long as the rest of the command after the program ended) buys nothing.
    What was registered with atexit (e.g. removing a temporary folder) still runs."""
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    status = main()
    if sys.argv[1:2] in (["server"], ["client"]):
        _exit_without_teardown(status)
    sys.exit(status)
