"""A class graded in parallel: 100 six-part full-mode submissions with 2 workers, half good, half
from the corpus's mistakes and attacks; optionally 1 worker and Dask beside it, and the sandbox's cost.

Usage: CIFAR10_PATH=... .venv/bin/python benchmarks/bench_parallel.py [--submissions 100] [--workers 2]
                          [--compare] [--overhead-runs 0]

The solution notebooks are trained once in fast mode (full-mode shapes, less accuracy) and the
class is graded with COURSE_MODE=full, sandboxed, as an instructor grades it: every full-mode
prediction runs. The submissions alternate: a copy of the solution, then one of the corpus of bad
submissions of ``tests/corpus.py`` built from it (endless loop, memory hog, fork bomb, network,
snooping, broken and missing notebooks, output flood, monkeypatching, bad weights, ...; their
faults sit in Parts 1-2, the other parts are the solution's). Prints the total, the time per
submission and where the class's time went (the report's phases). ``--compare`` grades the same
class again with 1 local worker and on a Dask local cluster of 2 processes; ``--overhead-runs N``
grades the solution alone N times with and without the sandbox.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

from grading import course as c
from grading import parallel
from grading.report import PHASES, read_phases

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the corpus is test data
import corpus  # noqa: E402


def build(root: Path, count: int, data: dict) -> Path:
    """A six-part course with ``count`` submissions: solutions and the corpus, alternating."""
    course = c.new_course(root / "course")
    c.generate_release(course)
    solution = c.copy_clean(course / "source" / c.ASSIGNMENT, root / "solution")
    c.execute_notebooks(solution, {**data, "COURSE_MODE": "fast"}, workers=2)
    server = socket.socket()  # a port nobody answers on, for the network request
    server.bind(("127.0.0.1", 0))
    bad = corpus.make(root / "bad", solution, {"port": server.getsockname()[1], "targets": [str(course / "gradebook.db")]},
                      release=course / "release" / c.ASSIGNMENT)
    server.close()
    bad_folders = list(bad.values())
    for index in range(count):
        if index % 2 == 0:
            c.submit(course, f"demo_good_{index:02d}", solution)
        else:
            folder = bad_folders[(index // 2) % len(bad_folders)]
            c.submit(course, f"{folder.name}_{index:02d}", folder)
    return course


def fresh_copy(course: Path, destination: Path) -> Path:
    shutil.copytree(course, destination, ignore=shutil.ignore_patterns("autograded", "gradebook.db", "grading_report.csv"))
    c.generate_release(destination)
    return destination


def timed(label: str, course: Path, env: dict, **options) -> tuple[float, list]:
    start = time.perf_counter()
    outcomes = parallel.grade_all(course, env, progress=False, **options)
    seconds = time.perf_counter() - start
    statuses = Counter(outcome.status for outcome in outcomes)
    print(f"  {label:<32} {seconds:7.1f} s = {seconds / 60:5.1f} min; {seconds / len(outcomes):5.1f} s per submission "
          f"({', '.join(f'{n} {status}' for status, n in sorted(statuses.items()))})", flush=True)
    return seconds, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--compare", action="store_true", help="also 1 local worker and Dask with 2 processes")
    parser.add_argument("--overhead-runs", type=int, default=0, help="the sandbox's cost: solution graded alone N times")
    args = parser.parse_args()
    data = {"CIFAR10_PATH": os.environ.get("CIFAR10_PATH", "")}
    env = {**data, "COURSE_MODE": "full"}
    print(f"{date.today()}, {platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="bench-parallel-") as scratch:
        root = Path(scratch)
        course = build(root, args.submissions, data)
        print(f"{args.submissions} six-part submissions (half solutions, half from the corpus of {len(corpus.CORPUS)} "
              "bad ones), full mode, sandboxed:", flush=True)
        seconds, outcomes = timed(f"{args.workers} local workers", fresh_copy(course, root / "main"), env,
                                  workers=args.workers)
        phases = Counter()
        for outcome in outcomes:
            phases.update(read_phases(outcome.phases))
        print("  where the time went, summed over the class (each worker's own time):")
        for phase in PHASES:
            print(f"    {phase:<30}{phases.get(phase, 0.0):>8.0f} s")
        if args.compare:
            one, _ = timed("1 local worker", fresh_copy(course, root / "one"), env, workers=1)
            from distributed import Client, LocalCluster

            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                    Client(cluster) as client:
                dask, _ = timed("Dask LocalCluster, 2 workers", fresh_copy(course, root / "dask"), env, scheduler=client)
            print(f"  speed-up over 1 worker: {args.workers} workers {one / seconds:.2f}x, Dask {one / dask:.2f}x")
        if args.overhead_runs:
            print(f"Sandbox overhead: the solution graded alone, {args.overhead_runs} times each way (medians):")
            solo = c.new_course(root / "solo")
            c.generate_release(solo)
            c.submit(solo, "demo_solution", root / "solution")
            times = {True: [], False: []}
            for _ in range(args.overhead_runs):
                for sandbox in (True, False):
                    start = time.perf_counter()
                    parallel.grade_all(solo, env, workers=1, progress=False, force=True, sandbox=sandbox)
                    times[sandbox].append(time.perf_counter() - start)
            with_box, without = statistics.median(times[True]), statistics.median(times[False])
            print(f"  with the sandbox {with_box:.2f} s, without {without:.2f} s: overhead {with_box - without:+.2f} s "
                  f"per submission ({(with_box / without - 1) * 100:+.0f}%)")


if __name__ == "__main__":
    main()
