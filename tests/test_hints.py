"""Every known mistake gets the hint that names its fix."""
from __future__ import annotations

import pytest

from grader.judging import hints


@pytest.mark.parametrize("error, message, expected", [
    ("SyntaxError", "Missing parentheses in call to 'print'. Did you mean print(...)?", hints.PYTHON2_PRINT),
    ("SyntaxError", "multiple exception types must be parenthesized", hints.PYTHON2_EXCEPT),
    ("NameError", "name 'raw_input' is not defined", "raw_input() is Python 2"),
    ("ModuleNotFoundError", "No module named 'SocketServer'", "socketserver"),
    ("TypeError", "a bytes-like object is required, not 'str'", hints.SEND_STR),
    ("TypeError", "'str' object cannot be interpreted as an integer", hints.PORT_NOT_NUMBER),
    ("EOFError", "EOF when reading a line", hints.INPUT),
    ("gaierror", "[Errno -2] Name or service not known", hints.UNKNOWN_HOST),
])
def test_known_errors_get_their_hint(error, message, expected):
    assert expected in hints.for_error(error, message)


def test_argv_errors_are_recognised_from_the_traceback():
    trace = 'File "server.py", line 3\n    port = int(sys.argv[1])\nIndexError: list index out of range'
    assert hints.for_error("IndexError", "list index out of range", trace) == hints.ARGV
    assert hints.for_error("IndexError", "list index out of range", "x = items[3]") is None


def test_unknown_errors_get_no_invented_hint():
    assert hints.for_error("ZeroDivisionError", "division by zero") is None
    assert hints.for_error("ModuleNotFoundError", "No module named 'numpy'") is None


def test_a_port_given_as_text_gets_its_hint_in_python_3_9_words_too():
    from grader.judging import hints

    old = "an integer is required (got type str)"
    assert hints.for_error("TypeError", old, '  s.connect((HOST, "12345"))\n') == hints.PORT_NOT_NUMBER
    assert hints.for_error("TypeError", old, "") == hints.PORT_NOT_NUMBER  # the connect() check's own
    assert hints.for_error("TypeError", old, '  data = s.recv("1024")\n') is None  # not a port
