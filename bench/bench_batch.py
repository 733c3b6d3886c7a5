"""Benchmark the batch command on a generated class and print a table.

    python bench/bench_batch.py                 # 200 students, default -j, with and without the
                                                # sandbox; -j 1 on 40 students
    python bench/bench_batch.py --students 50 --serial-students 10 --timeout 2
    python bench/bench_batch.py --rows sandboxed  # only the default, sandboxed row (quick checks)

The class comes from tests/fixtures/batch/make_class.py: correct programs, and about one program
in five that hangs until the time limit (a server that waits to receive before sending, a client
that sleeps forever), all on port 12345.  Each run is ``python -m grader batch`` in a fresh
output folder; "peak MB" is the largest total memory of the batch process and all its
descendants (the student programs, the sandbox's processes), sampled every 0.5 s from /proc
(Linux) as proportional set size: a page shared by several processes is divided among them.
(Resident size would count it once per process, and the sandbox's processes are forks of one
server that share most of their pages.)  "CPU s" is the
processor time of the batch process and everything it started (user + system, from the kernel's
accounting of reaped children), and "CPU ms/run" divides it by the programs' runs (a client runs
twice: once per reference server).  On a shared or noisy machine the CPU columns move far less
than the wall time: a class of this shape is bound by CPU, so wall time follows them.

-j 1 grades one program at a time, so a hanging program costs its whole time limit: on the full
class that takes many minutes, which is why it runs on a smaller class by default (the table
says which class each row used).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout, installed or not


def _make_class_module():
    path = ROOT / "tests" / "fixtures" / "batch" / "make_class.py"
    spec = importlib.util.spec_from_file_location("make_class", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_class"] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def _children() -> Dict[int, List[int]]:
    tree: Dict[int, List[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    data = f.read()
                ppid = int(data[data.rindex(b")") + 2:].split()[1])
                tree.setdefault(ppid, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return tree


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _tree_pss_kb(root: int) -> int:
    tree = _children()
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _pss_kb(pid)
        stack.extend(tree.get(pid, []))
    return total


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_batch(subs: Path, jobs: Optional[int], timeout: float, sandbox: bool = True) -> Tuple[float, int, int]:
    """(wall seconds, peak tree PSS in kB, exit status) of one batch run; its CPU seconds (the
    batch process and all it started) in ``run_batch.last_cpu``."""
    out = Path(tempfile.mkdtemp(prefix="bench-out-"))
    cmd = [sys.executable, "-m", "grader", "batch", str(subs), "--out", str(out), "--timeout", str(timeout)]
    if jobs:
        cmd += ["-j", str(jobs)]
    if not sandbox:
        cmd += ["--no-sandbox"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    peak = [0]
    cpu_before = _children_cpu()
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_pss_kb(proc.pid))
            done.wait(0.5)  # reading a process's PSS costs about 0.2 ms: not too often

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = proc.communicate()
    wall = time.monotonic() - start
    run_batch.last_cpu = _children_cpu() - cpu_before  # type: ignore[attr-defined]
    done.set()
    sampler.join()
    if proc.returncode not in (0, 1):
        print(stderr.decode(errors="replace"), file=sys.stderr)
    grades = (out / "grades.csv").read_text(encoding="utf-8-sig") if (out / "grades.csv").exists() else ""
    shutil.rmtree(out, ignore_errors=True)
    run_batch.last_grades = grades  # type: ignore[attr-defined]
    return wall, peak[0], proc.returncode


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--serial-students", type=int, default=40,
                        help="class size for the -j 1 row (0: skip it)")
    parser.add_argument("--timeout", type=float, default=5.0, help="time limit per program (default 5)")
    parser.add_argument("--rows", default="serial,sandboxed,no-sandbox",
                        help="which rows, comma-separated (default: serial,sandboxed,no-sandbox; "
                             "serial is the -j 1 row and the default row it is compared with)")
    args = parser.parse_args(argv)
    rows_wanted = {r.strip() for r in args.rows.split(",") if r.strip()}
    unknown = rows_wanted - {"serial", "sandboxed", "no-sandbox"}
    if unknown:
        parser.error("unknown row(s): %s" % ", ".join(sorted(unknown)))
    if "serial" not in rows_wanted:
        args.serial_students = 0

    mc = _make_class_module()
    from grader.batch.pool import default_jobs
    from grader.running.sandbox import available as sandbox_available

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-class-") as temp:
        classes = {}
        for n in sorted({args.students, args.serial_students} - {0}):
            classes[n] = mc.make_class(Path(temp) / f"class{n}", mc.FOLDERS, mc.benchmark_class(n))
        # The default sandboxes each program where namespaces are available; --no-sandbox is
        # the same batch without (what a TA grading trusted submissions may choose).
        plan = [row for row, name in (((args.students, None, True), "sandboxed"),
                                      ((args.students, None, False), "no-sandbox"))
                if name in rows_wanted]
        if args.serial_students:
            plan = [(args.serial_students, 1, True), (args.serial_students, None, True)] + plan
        boxed = sandbox_available()[0]
        grades = {}
        for n, jobs, sandbox in plan:
            wall, peak_kb, status = run_batch(classes[n], jobs, args.timeout, sandbox)
            grades[(n, jobs, sandbox)] = run_batch.last_grades  # type: ignore[attr-defined]
            cpu = run_batch.last_cpu  # type: ignore[attr-defined]
            programs = 2 * n
            runs = sum((s.server is not None) + 2 * (s.client is not None) for s in mc.benchmark_class(n))
            mode = "-j 1" if jobs == 1 else f"default (-j {default_jobs()})"
            mode += (", sandboxed" if boxed else ", no sandbox here") if sandbox else ", --no-sandbox"
            rows.append((n, programs, mode, wall, programs / wall, cpu, cpu / runs * 1000,
                         peak_kb / 1024, status))
    hanging = sum(1 for s in mc.benchmark_class(args.students)
                  for p in (s.server, s.client) if "sleeps_before_accept" in str(p) or "sleeps_forever" in str(p))
    print(f"Batch benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}, time limit "
          f"{args.timeout:g} s; {hanging} of {2 * args.students} programs in the full class hang "
          "until the time limit.")
    print()
    header = ("students", "programs", "concurrency", "wall s", "programs/s", "CPU s", "CPU ms/run",
              "peak MB", "exit")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for n, programs, mode, wall, rate, cpu, per_run, peak_mb, status in rows:
        print(f"| {n} | {programs} | {mode} | {wall:.1f} | {rate:.1f} | {cpu:.1f} | {per_run:.0f} | "
              f"{peak_mb:.0f} | {status} |")
    if args.serial_students:
        same = grades[(args.serial_students, 1, True)] == grades[(args.serial_students, None, True)]
        print()
        print(f"-j 1 and the default gave {'the same' if same else 'DIFFERENT'} grades.csv on the "
              f"{args.serial_students}-student class.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
