"""The cost of a change: the command line of this checkout against the same at another revision.

Runs ``python -m grader ROLE FILE`` on each tree's ``reference/ROLE.py``, copied into a folder of
its own as a student's file sits (and the server with ``--sandbox`` where it is available), interleaved round by round so machine noise hits them alike, with
compiled ``.pyc`` in both (a checkout after its first run), and prints the medians and their
ratio.  The other revision is checked out in a temporary git worktree, removed at the end.

    python bench/bench_versions.py REV [--runs N]      # e.g. REV = the commit before a change
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.running import sandbox  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision", help="the git revision to compare with (e.g. HEAD~3)")
    parser.add_argument("--runs", type=int, default=21, help="rounds (default 21)")
    args = parser.parse_args()
    cases = [("server", []), ("client", [])]
    if sandbox.available()[0]:
        cases.append(("server", ["--sandbox"]))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    folder = tempfile.mkdtemp(prefix="bench-versions-")
    other = Path(folder) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(other), args.revision], cwd=ROOT, check=True)
    try:
        trees = {args.revision: other, "this checkout": ROOT}
        for tree in trees.values():
            subprocess.run([sys.executable, "-m", "compileall", "-q", "grader"], cwd=tree, env=env,
                           stdout=subprocess.DEVNULL, check=True)
        # Each tree's reference program is graded from a folder of its own, as a student's is:
        # the program runs in a copy of its folder, and reference/ also holds other labs.
        programs = {}
        for name, tree in trees.items():
            for role in ("server", "client"):
                own = Path(folder) / ("%s-%s" % (role, len(programs)))
                own.mkdir()
                shutil.copy(tree / "reference" / ("%s.py" % role), own / ("%s.py" % role))
                programs[(name, role)] = str(own / ("%s.py" % role))
        times = {(name, i): [] for name in trees for i in range(len(cases))}
        for _ in range(args.runs):
            for name, tree in trees.items():
                for i, (role, extra) in enumerate(cases):
                    start = time.perf_counter()
                    result = subprocess.run([sys.executable, "-m", "grader", role, programs[(name, role)]] + extra,
                                            cwd=tree, env=env, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    times[(name, i)].append(time.perf_counter() - start)
                    if result.returncode != 0:
                        sys.exit("%s: %s %s exited %d" % (name, role, " ".join(extra), result.returncode))
        print("\nMedian wall time of the command line, %d interleaved rounds (seconds)\n" % args.runs)
        print("| case | %s | this checkout | ratio |" % args.revision)
        print("|---|---|---|---|")
        for i, (role, extra) in enumerate(cases):
            before = statistics.median(times[(args.revision, i)])
            after = statistics.median(times[("this checkout", i)])
            print("| %s %s | %.3f | %.3f | %.2f |" % (role, " ".join(extra), before, after, after / before))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=ROOT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
