"""Autograder for the TCP "Hello World" socket lab.

``python -m grader server FILE`` / ``python -m grader client FILE`` grade one program;
``grade_file`` is the same as a function.
"""
__version__ = "0.1.0"
