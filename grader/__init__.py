"""Autograder for the TCP "Hello World" socket lab.

``python -m grader server FILE`` / ``python -m grader client FILE`` grade one program;
``grade_file`` is the same as a function.
"""
import sys

# First thing ``python -m grader`` reads: so written that Python 2.7 to 3.8 can parse it (the
# rest of the grader is 3.9+), for one plain line instead of a SyntaxError of ours.
if sys.version_info < (3, 9):
    sys.stderr.write("grader: needs Python 3.9 or newer; you are running %d.%d\n"
                     % tuple(sys.version_info[:2]))
    sys.exit(2)

__version__ = "0.1.0"
