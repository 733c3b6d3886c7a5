"""What to tell a beginner: one hint per known mistake, each naming the fix.

Hints are plain text so every renderer can use them.  ``for_error`` turns an exception the
program raised (as recorded by the probe) into the hint for it.
"""
from __future__ import annotations

from typing import Optional

PYTHON2_PRINT = ('This is Python 2 syntax. In Python 3 print is a function: write '
                 'print("Waiting for connection...") with parentheses.')
PYTHON2_EXCEPT = 'This is Python 2 syntax. In Python 3 write "except OSError as e:".'
PYTHON2_NAME = "{name}() is Python 2. In Python 3 use {instead}."
PYTHON2_MODULE = "The module {name} is Python 2. In Python 3 it is called {instead}."
SYNTAX = "Python cannot read line {line}. Look at the line (and the one before it) for a missing bracket, quote or colon."
SEND_STR = ("send() needs bytes in Python 3, not text: use b'Hello World!' or "
            "'Hello World!'.encode().")
PRINT_BYTES = ("You printed the bytes object itself. Decode the bytes to text first: "
               "print(data.decode()).")
RECV_TOO_SMALL = ("recv({size}) returns at most {size} bytes, but the message has {length}. Ask for more, "
                  "e.g. recv(1024), or call recv() until it returns b''.")
ACCEPT_BEFORE_LISTEN = "Call listen() on the server socket before accept()."
NO_BIND = 'Call bind(("", port)) before listen(), so clients know which port to connect to.'
RESERVED_PORT = ("Ports below 1024 are reserved: on the lab computers your server may not use them. "
                 "Pick a port between 1024 and 65535, e.g. 12345.")
NEVER_CLOSED = "Call close() on the connected socket when you are done with it (or use a with block)."
GC_CLOSED = ("The connection was closed only when Python threw the socket away, not by your code. "
             "Call close() on it yourself.")
CLOSE_KEPT_OPEN = ("You called close(), but something else still holds the connection open (a makefile() "
                   "object or a child process). Close those too.")
SHUTDOWN_NOT_CLOSED = ("shutdown() ends the connection but does not close the socket. Call close() on it "
                       "too (or use a with block).")
LISTENING_NOT_CONNECTED = ("You closed the server socket, not the connected socket that accept() returned. "
                           "Close the connected socket (conn.close()).")
LOOPS_FOREVER_ACCEPT = ("Your server goes back to accept() for another client. The lab's server serves one "
                        "client and ends: remove the loop around accept(), or break out of it.")
LOOPS_FOREVER = ("Your program was still running at the time limit. Look for a loop that never ends, "
                 "or a call that waits forever (input(), a second recv() or accept()).")
WAITS_FOR_CLIENT = ("Your server waits in recv() for the client to send something, but in this lab the "
                    "client only receives. Send the message first, and do not wait for the client.")
INPUT = ("Your program called input(), but nobody can type while it is graded. Write the host and port "
         "into your code (or read them from sys.argv with a default).")
SHADOWED_SOCKET = ("A file named socket.py next to your program hides Python's own socket module: "
                   "\"import socket\" imports that file instead. Rename it (and delete socket.pyc / "
                   "__pycache__).")
TEMPLATE = ("This file is still the blank template. Write your code under each step's comment.")
NO_SOCKET = "Your program never created a socket. Start with s = socket.socket()."
SEND_ON_LISTENING = ("Send on the connected socket that accept() returned (conn, address = s.accept(); "
                     "conn.send(...)), not on the server socket.")
UNKNOWN_HOST = ('The computer name could not be found. Use "localhost" for this computer, or your '
                "partner's IP address.")
MESSAGE_TEXT = 'Send exactly "{message}": same letters, capitals, spaces and punctuation.'
PRINTS_CONSTANT = ("Your client printed \"{message}\" when the server sent it, but not when the server sent "
                   "\"{other}\". Print what recv() returned, not a fixed text.")
PRINT_MESSAGE = "Print the text you received: print(data.decode())."
RECV_LOOP_FOREVER = "recv() returns b'' when the server has closed: stop your loop then."
EXIT_STATUS = "Your program ended with an error (exit status {status}); fix the error shown under {check}."
ARGV = ("Your program reads a command-line argument (sys.argv), but it is graded without any. Give a "
        "default: port = int(sys.argv[1]) if len(sys.argv) > 1 else 12345.")
PORT_NOT_NUMBER = ('The port must be a number, not text: write 12345, not "12345" (or int(text) '
                   "when it comes from input or sys.argv).")
INTERFERENCE = ("Your program wrote into the grader's own channel or called the grader's functions. "
                "Remove that code: grading only counts what your program really does.")
COMPILE_LIMIT = ("Python could not compile your file: an expression is too long or nested too deeply "
                 "for its parser. Split it into smaller statements.")
TAB_ERROR = ("This line is indented with tabs where the lines around it use spaces (or the reverse). "
             "Indent every line with spaces only, 4 per level (most editors can convert tabs to spaces).")
INDENTATION = ("The indentation of this line does not fit the lines around it. Indent the lines of one "
               "block by the same amount, with spaces only, and indent after each line ending in a colon.")
BACKSLASH = ('A backslash in a text starts an escape (\\U, \\N...). Write the path with / or double '
             'backslashes, or as a raw string: r"C:\\Users\\...".')
ENCODING = ("Your file is not saved as UTF-8, so python3 refuses to read it (often an accented letter "
            "in a comment, saved by an old editor). Save the file again with the UTF-8 encoding.")
MAIN_GUARD = ('Your code is under if __name__ == "main":, which is never true: Python sets __name__ to '
              '"__main__" (two underscores on each side). Write if __name__ == "__main__":.')
OTHER_ROLE = ("This looks like a {other} (it calls {calls}), not a {role}. Grade it with: "
              "python -m grader {other} {file}")
WAITS_AFTER_SENDING = ("Your server sent data and then waited in recv() for the client to send something, "
                       "but in this lab the client never sends. After sending, close the connection.")
SEND_FIRST = ("Your client waits in recv() for the reply before it has sent anything, and the server "
              "replies only to what it receives. Send your line first (s.sendall(line.encode())), "
              "then recv().")
ECHO_BACK = ("Send back exactly what you received: data = conn.recv(1024), then conn.sendall(data). "
             "The reference client sends a different line each time, so a fixed text cannot pass.")
UDP = "This lab uses TCP: create the socket with socket.socket() or socket.socket(AF_INET, SOCK_STREAM)."

# Datagram (UDP) labs: no connection, so the advice names sendto() and recvfrom().
STREAM_IN_DATAGRAM_LAB = ("This lab uses UDP: create the socket with socket.socket(socket.AF_INET, "
                          "socket.SOCK_DGRAM). A SOCK_STREAM (TCP) socket needs a connection, and a UDP "
                          "program makes none: no listen(), accept() or connect() is needed.")
DATAGRAM_NO_BIND = ('Call s.bind(("", 12345)) before recvfrom(), so the client knows which port to send '
                    "its request to. Without bind() your socket has no known port and receives nothing.")
DATAGRAM_SEND_STR = ("sendto() needs bytes in Python 3, not text: s.sendto(\"{message}\".encode(), {address}) "
                     "or s.sendto(b\"{message}\", {address}).")
DATAGRAM_NO_SOCKET = ("Your program never created a socket. Start with "
                      "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM).")
DATAGRAM_RECEIVE = ("Wait for the request with data, address = s.recvfrom(1024): it returns the datagram's "
                    "bytes and the address of the sender.")
DATAGRAM_SEND_MESSAGE = ('Send the message to the client with s.sendto(b"{message}", address), where address '
                         "is what recvfrom() returned.")
DATAGRAM_BYTES_REPR = ('You sent the text of a bytes literal (str(b"...")). Send the bytes themselves: '
                       's.sendto(b"{message}", address) or s.sendto("{message}".encode(), address).')
REPLY_TO_SENDER = ("Your reply went to {address}, an address written into your program, not to the client "
                   "that sent the request. Reply to the address recvfrom() returned: data, address = "
                   "s.recvfrom(1024), then s.sendto(..., address).")
DATAGRAM_RECV_TOO_SMALL = ("Your recvfrom({size}) buffer is too small: the reply has {length} bytes, and UDP "
                           "throws away the part of a datagram that does not fit (a second call will not get "
                           "it). Use a big enough buffer: s.recvfrom(1024).")
DATAGRAM_RECEIVE_REPLY = "After sending, wait for the reply: data, address = s.recvfrom(1024)."
DATAGRAM_PRINTS_CONSTANT = ("Your client printed \"{message}\" when the server sent it, but not when the server "
                            "sent \"{other}\". Print what recvfrom() returned (data.decode()), not a fixed text.")
DATAGRAM_SEND_REQUEST = ('Send your request to the server first: s.sendto(b"Hello, server!", (host, 12345)). '
                         "UDP needs no connect(): sendto() names where each datagram goes.")
DATAGRAM_SEND_FIRST = ("Your client waits in recvfrom() for the reply before it has sent its request, and the "
                       "server replies only to a request. Call s.sendto(...) first, then recvfrom().")
DATAGRAM_NEVER_CLOSED = "Call s.close() on your socket when you are done with it (or use a with block)."
DATAGRAM_SERVES_FOREVER = ("Your server goes back to recvfrom() for another request after answering. The "
                           "lab's server answers one request, then closes its socket and ends: remove the loop.")
DATAGRAM_NO_REQUEST = ("Your server waits in recvfrom() for a request that never came: the client sends it to "
                       'the port you bind. Call s.bind(("", 12345)) on the socket before recvfrom().')
DATAGRAM_WAITS_AGAIN = ("Your program waits in recvfrom() for a datagram nobody will send: the lab exchanges "
                        "one request and one reply. Receive once, then close the socket.")


def for_error(error: Optional[str], message: str = "", traceback: str = "") -> Optional[str]:
    """The hint for an exception the program raised, if we know one."""
    message = message or ""
    if error == "TabError" or "inconsistent use of tabs and spaces" in message:
        return TAB_ERROR
    if "unicodeescape" in message:
        return BACKSLASH
    if error == "SyntaxError" and ("Non-UTF-8 code" in message or "'utf-8' codec can't decode" in message):
        return ENCODING
    if error == "SyntaxError" or error == "IndentationError":
        if "Missing parentheses in call to 'print'" in message:
            return PYTHON2_PRINT
        if "multiple exception types must be parenthesized" in message:
            return PYTHON2_EXCEPT
        if error == "IndentationError":
            return INDENTATION
        return None
    if error == "NameError":
        for name, instead in (("raw_input", "input()"), ("unicode", "str"), ("xrange", "range()")):
            if "'%s'" % name in message:
                return PYTHON2_NAME.format(name=name, instead=instead)
        return None
    if error in ("ModuleNotFoundError", "ImportError"):
        for old_name, new_name in (("SocketServer", "socketserver"), ("Queue", "queue"),
                                   ("Tkinter", "tkinter"), ("urllib2", "urllib.request"),
                                   ("ConfigParser", "configparser"), ("thread", "threading")):
            if "'%s'" % old_name in message:
                return PYTHON2_MODULE.format(name=old_name, instead=new_name)
        return None
    if error == "TypeError" and "bytes-like object is required" in message:
        return SEND_STR
    if error == "TypeError" and "'str' object cannot be interpreted as an integer" in message:
        return PORT_NOT_NUMBER
    # Python 3.9's words for the same port given as text (also for other int arguments, so only
    # when the failing line is a connect() or bind(), or the call itself is the one judged).
    if error == "TypeError" and "an integer is required (got type str)" in message and \
            (not traceback or "connect" in traceback or "bind" in traceback):
        return PORT_NOT_NUMBER
    if error == "EOFError":
        return INPUT
    if error in ("gaierror", "herror"):
        return UNKNOWN_HOST
    if error in ("IndexError", "ValueError") and "sys.argv" in (traceback or ""):
        return ARGV
    return None
