"""Throughput of parallel grading: 40 mixed demo submissions with 1 and 2 local workers and on a
Dask local cluster of 2 worker processes, in one run; and the sandbox's cost per submission.

Usage: CIFAR10_PATH=... .venv/bin/python benchmarks/bench_parallel.py [--submissions 40] [--overhead-runs 5]

The course holds Parts 1 and 2 in fast mode (as the tests do). The submissions: copies of the
solution (half) and the corpus of bad submissions of ``tests/corpus.py`` (the other half:
endless loop, memory hog, fork bomb, network, snooping, broken and missing notebooks, output
flood, monkeypatching, bad weights, ...), as a course's mix might look on a bad day. Each
configuration grades all of them from scratch (``force``), in a fresh copy of the course, with
the sandbox. Then the same solution is graded ``--overhead-runs`` times one at a time, with and
without the sandbox, for the sandbox's overhead per submission.
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
from pathlib import Path

from grading import course as c
from grading import parallel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the corpus is test data
import corpus  # noqa: E402


def build(root: Path, count: int, env: dict) -> Path:
    """A course with ``count`` submissions: solutions and the corpus, alternating."""
    course = c.new_course(root / "course", corpus.NOTEBOOKS)
    c.generate_release(course)
    solution = c.copy_clean(course / "source" / c.ASSIGNMENT, root / "solution")
    c.execute_notebooks(solution, env, names=corpus.NOTEBOOKS)
    server = socket.socket()  # a port nobody answers on, for the network request
    server.bind(("127.0.0.1", 0))
    bad = corpus.make(root / "bad", solution, {"port": server.getsockname()[1], "targets": [str(course / "gradebook.db")]})
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


def timed(label: str, course: Path, env: dict, **options) -> float:
    start = time.perf_counter()
    outcomes = parallel.grade_all(course, env, progress=False, **options)
    seconds = time.perf_counter() - start
    failed = sum(o.status == "failed" for o in outcomes)
    print(f"  {label:<34} {seconds:7.1f} s  {len(outcomes) / seconds * 60:6.1f} submissions/min  "
          f"({len(outcomes)} graded, {failed} failed)", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=40)
    parser.add_argument("--overhead-runs", type=int, default=5)
    args = parser.parse_args()
    env = {"COURSE_MODE": "fast", "CIFAR10_PATH": os.environ.get("CIFAR10_PATH", "")}
    print(f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="bench-parallel-") as scratch:
        root = Path(scratch)
        course = build(root, args.submissions, env)
        print(f"{args.submissions} submissions (half solutions, half from the corpus of {len(corpus.CORPUS)} bad ones), "
              "Parts 1-2, fast mode, sandboxed:")
        one = timed("1 local worker", fresh_copy(course, root / "one"), env, workers=1)
        two = timed("2 local workers", fresh_copy(course, root / "two"), env, workers=2)
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            dask = timed("Dask LocalCluster, 2 workers", fresh_copy(course, root / "dask"), env, scheduler=client)
        print(f"  speed-up: 2 workers {one / two:.2f}x, Dask {one / dask:.2f}x over 1 worker; Dask/local(2) time "
              f"{dask / two:.2f}")

        print(f"Sandbox overhead: the solution graded alone, {args.overhead_runs} times each way (medians):")
        solo = c.new_course(root / "solo", corpus.NOTEBOOKS)
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
