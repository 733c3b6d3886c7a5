"""What containment costs: grading time with and without the sandbox, and the grader's worst
time and peak memory over the hostile fixtures.

Two tables:

1. Median wall time over N rounds, rows interleaved in one process so machine noise hits them
   alike: the reference server and client run as plain ``python FILE`` against a loopback peer
   (no grader at all), graded with ``grade_file`` (sandbox off), and graded in the sandbox.
2. Every file in tests/fixtures/hostile/, graded in a fresh process (so its peak RSS is the
   grader's own for that file): wall time and peak memory, sandbox off and on.  Fixtures marked
   ``sandbox=only`` are never run without the sandbox.

    python bench/bench_containment.py [--runs N]
"""
from __future__ import annotations

import argparse
import functools
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.running import sandbox  # noqa: E402
from grader.grading import GradeOptions, grade_file  # noqa: E402

HOSTILE = ROOT / "tests" / "fixtures" / "hostile"

# Grades one file in this fresh process and prints its time and peak memory as JSON.
_ONE = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from grader import grading
role, path, timeout, boxed = sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5] == "1"
start = time.perf_counter()
def peak_mib():
    # VmHWM is this process's own peak; ru_maxrss would include the bench process it was
    # started from (Linux carries it across exec).
    try:
        with open("/proc/self/status") as status:
            return next(int(l.split()[1]) for l in status if l.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
report = grading.grade_file(role, path, grading.GradeOptions(timeout=timeout, sandbox=boxed))
print(json.dumps({"seconds": time.perf_counter() - start, "score": report.score,
                  "peak_mib": peak_mib()}))
"""


def _graded(role: str, boxed: bool) -> float:
    path = ROOT / "reference" / ("%s.py" % role)
    start = time.perf_counter()
    report = grade_file(role, path, GradeOptions(sandbox=boxed))
    assert report.score == report.max_score, (role, boxed, report.checks)
    return time.perf_counter() - start


def _bare(role: str) -> float:
    """The reference program as plain ``python FILE`` against a loopback peer in this process."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        start = time.perf_counter()
        if role == "client":
            def serve():
                conn, _ = listener.accept()
                with conn:
                    conn.sendall(b"Hello World!")
            threading.Thread(target=serve, daemon=True).start()
            subprocess.run([sys.executable, str(ROOT / "reference/client.py"), "127.0.0.1", str(port)],
                           stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, timeout=30, check=True)
        else:
            listener.close()  # the server takes the port
            server = subprocess.Popen([sys.executable, str(ROOT / "reference/server.py"), str(port)],
                                      stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
            server.stdout.readline()  # it listens now
            with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
                while client.recv(1024):
                    pass
            server.communicate(timeout=30)
        return time.perf_counter() - start


def _options(path: Path) -> dict:
    doc = path.read_text(encoding="utf-8").split('"""')[1]
    line = next(l for l in doc.splitlines() if l.startswith("options: "))
    return dict(o.split("=") for o in line[len("options: "):].split())


def _hostile(path: Path, boxed: bool) -> dict:
    options = _options(path)
    result = subprocess.run([sys.executable, "-c", _ONE, str(ROOT), options["role"], str(path),
                             options["timeout"], "1" if boxed else "0"],
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                            cwd=tempfile.gettempdir())
    if result.returncode != 0:
        return {"seconds": float("nan"), "score": None, "peak_mib": float("nan"),
                "error": result.stderr.strip().splitlines()[-1:]}
    return json.loads(result.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="rounds for the first table (default 15)")
    args = parser.parse_args()
    boxed, why = sandbox.available()
    if not boxed:
        print("sandbox unavailable here (%s): its rows are left out" % why)

    rows = {}
    for role in ("server", "client"):
        rows["%s: plain python, no grader" % role] = functools.partial(_bare, role)
        rows["%s: graded, sandbox off" % role] = functools.partial(_graded, role, False)
        if boxed:
            rows["%s: graded, sandbox on" % role] = functools.partial(_graded, role, True)
    times = {name: [] for name in rows}
    for name, run in rows.items():  # warm-up: imports, sandbox.available(), page cache
        run()
    for _ in range(args.runs):
        for name, run in rows.items():
            times[name].append(run())
    print("\nGrading a correct program, median of %d rounds (seconds)" % args.runs)
    print("%-36s %8s %8s %8s" % ("", "median", "min", "max"))
    for name, values in times.items():
        print("%-36s %8.3f %8.3f %8.3f" % (name, statistics.median(values), min(values), max(values)))
    for role in ("server", "client"):
        off = statistics.median(times["%s: graded, sandbox off" % role])
        if boxed:
            on = statistics.median(times["%s: graded, sandbox on" % role])
            print("%s: the sandbox adds %.3f s (%.0f%%)" % (role, on - off, 100 * (on - off) / off))

    print("\nHostile fixtures, each graded in a fresh process (time limit from the fixture)")
    print("%-28s %6s %10s %10s %10s %10s" % ("fixture", "limit", "off: s", "off: MiB", "on: s", "on: MiB"))
    worst = {"off": (0.0, 0.0), "on": (0.0, 0.0)}
    floods = {"off": [], "on": []}  # (seconds past the time limit, peak MiB, fixture) of floods_*
    for path in sorted(HOSTILE.glob("*.py")):
        options = _options(path)
        cells = []
        for mode, on in (("off", False), ("on", True)):
            if (on and not boxed) or (not on and options.get("sandbox") == "only"):
                cells += ["-", "-"]
                continue
            result = _hostile(path, on)
            worst[mode] = (max(worst[mode][0], result["seconds"]), max(worst[mode][1], result["peak_mib"]))
            if path.stem.startswith("floods_"):
                floods[mode].append((result["seconds"] - float(options["timeout"]), result["peak_mib"], path.stem))
            cells += ["%.2f" % result["seconds"], "%.1f" % result["peak_mib"]]
        print("%-28s %6s %10s %10s %10s %10s" % ((path.stem, options["timeout"]) + tuple(cells)))
    for mode in ("off", "on"):
        if worst[mode][0]:
            print("worst, sandbox %s: %.2f s, %.1f MiB peak" % (mode, worst[mode][0], worst[mode][1]))
    for mode in ("off", "on"):
        if floods[mode]:
            over, mib, name = max(floods[mode], key=lambda row: (row[1], row[0]))
            print("worst event flood, sandbox %s: %s, %.1f MiB peak, ended %.2f s after its time limit"
                  % (mode, name, mib, max(row[0] for row in floods[mode])))


if __name__ == "__main__":
    main()
