"""Command line: parses arguments and hands the work to the modules that do it."""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from grader.exercise import ROLES
from grader.results import ExitCode, InputError


def _parser() -> argparse.ArgumentParser:
    from grader.report import RENDERERS

    parser = argparse.ArgumentParser(
        prog="python -m grader",
        description="Grade the TCP Hello World socket lab.",
        epilog="Example: python -m grader server myserver.py")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for role in ROLES:
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
    return parser


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
    from grader.grading import GradeOptions, grade_file
    from grader.report import render

    try:
        report = grade_file(args.command, args.file,
                            GradeOptions(timeout=args.timeout, strict=args.strict))
    except InputError as exc:
        print("grader: %s" % exc, file=sys.stderr)
        return ExitCode.BAD_INPUT
    sys.stdout.write(render(args.format, [report], color=_use_color(sys.stdout), verbose=args.verbose))
    return report.exit_code


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


if __name__ == "__main__":
    sys.exit(main())
