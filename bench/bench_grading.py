"""How much grading costs compared with running the lab by hand.

Prints a table of median wall times, measured interleaved in one run so machine noise hits all
rows alike:

* bare pair: the reference server started by hand, then the reference client once the server
  says it is waiting, both to the end (what a student does in the lab);
* grading the reference server / client with the CLI (``python -m grader ...``), and with
  ``grade_file`` in-process (what batch mode pays per program);
* grading a program that hangs, against its time limit.

Targets (issue 2): grading <= 1.5x the bare pair; a hanging program <= time limit + 0.5 s.

    python bench/bench_grading.py [--runs N] [--hang-limit SECONDS]
"""
from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.grading import GradeOptions, grade_file  # noqa: E402

HANGS = "import time\ntime.sleep(3600)\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bare_pair() -> float:
    port = str(free_port())
    start = time.perf_counter()
    server = subprocess.Popen([sys.executable, str(ROOT / "reference/server.py"), port],
                              stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    server.stdout.readline()  # "Waiting for connection...": it listens now
    client = subprocess.run([sys.executable, str(ROOT / "reference/client.py"), "127.0.0.1", port],
                            capture_output=True, stdin=subprocess.DEVNULL, timeout=30)
    server.communicate(timeout=30)
    elapsed = time.perf_counter() - start
    assert client.returncode == 0 and server.returncode == 0
    return elapsed


def cli(role: str) -> float:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "grader", role, "reference/%s.py" % role],
                            cwd=ROOT, capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stdout
    return elapsed


def in_process(role: str) -> float:
    start = time.perf_counter()
    report = grade_file(role, ROOT / "reference" / ("%s.py" % role))
    elapsed = time.perf_counter() - start
    assert report.full_marks
    return elapsed


def hanging(path: Path, limit: float) -> float:
    start = time.perf_counter()
    report = grade_file("server", path, GradeOptions(timeout=limit))
    elapsed = time.perf_counter() - start
    assert report.stopped_because == "time limit"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--hang-limit", type=float, default=2.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        hang_file = Path(tmp) / "server.py"
        hang_file.write_text(HANGS)
        rows = {
            "bare pair (reference server + client by hand)": bare_pair,
            "grade reference server, CLI": lambda: cli("server"),
            "grade reference client, CLI": lambda: cli("client"),
            "grade reference server, grade_file()": lambda: in_process("server"),
            "grade reference client, grade_file()": lambda: in_process("client"),
        }
        for measure in rows.values():  # warm the file cache and the interpreter
            measure()
        times = {name: [] for name in rows}
        for _ in range(args.runs):
            for name, measure in rows.items():
                times[name].append(measure())
        hang_times = [hanging(hang_file, args.hang_limit) for _ in range(3)]
    bare = statistics.median(times["bare pair (reference server + client by hand)"])
    print("%-48s %10s %10s %8s" % ("what (median of %d runs)" % args.runs, "seconds", "max", "x bare"))
    for name, values in times.items():
        median = statistics.median(values)
        print("%-48s %10.3f %10.3f %8.2f" % (name, median, max(values), median / bare))
    print("%-48s %10.3f %10.3f %8s" % ("program that hangs, limit %.1f s (3 runs)" % args.hang_limit,
                                         statistics.median(hang_times), max(hang_times),
                                         "+%.2fs" % (max(hang_times) - args.hang_limit)))
    print("targets: grading <= 1.50x bare pair; hanging program <= limit + 0.50 s")


if __name__ == "__main__":
    main()
