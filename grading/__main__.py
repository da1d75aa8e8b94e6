"""Instructor commands.

    python -m grading release          regenerate release/cifar10 from source/cifar10
    python -m grading demo [--mode M]  the main job: release, demo submissions, autograde,
                                       feedback, grades CSV and a score table
    python -m grading grade [--workers N | --scheduler ADDRESS] [--student S] [--force | --retry-failed] [--course DIR]
                            [--database URL] [--no-sandbox] [--limits WAY]
                                       autograde every submission in DIR/submitted (default:
                                       the repository root) with several workers at once, each
                                       submission in the sandbox
    python -m grading feedback [--course DIR] [--database URL]
                                       every student's feedback, one bounded run each, with a
                                       page of grading notes where there are any

``tools/demo.sh`` runs the demo with the environment set up first.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from grading import course as c
from grading import demo as demo_round
from grading import gradebook


def regenerate_release() -> Path:
    """Replace ``release/cifar10`` with a fresh ``nbgrader generate_assignment`` of the source."""
    with tempfile.TemporaryDirectory(prefix="cifar10-release-") as scratch:
        generated = c.generate_release(c.new_course(Path(scratch)))
        target = c.REPO / "release" / c.ASSIGNMENT
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(generated, target)
    return target


def demo(mode: str | None) -> int:
    env = {"COURSE_MODE": mode or os.environ.get("COURSE_MODE") or "fast"}
    if os.environ.get("CIFAR10_PATH"):
        env["CIFAR10_PATH"] = os.environ["CIFAR10_PATH"]
    start = time.perf_counter()
    print(f"Regenerated {regenerate_release().relative_to(c.REPO)}")
    with tempfile.TemporaryDirectory(prefix="cifar10-demo-") as scratch:
        course = c.new_course(Path(scratch))
        timings = demo_round.grade_demo_round(course, env)
        table = demo_round.score_table(gradebook.scores(course))
        # Demo students' results go where an nbgrader user looks for them.
        for folder in ("submitted", "autograded", "feedback"):
            for student in demo_round.DEMO_STUDENTS:
                target = c.REPO / folder / student
                if target.exists():
                    shutil.rmtree(target)
                shutil.copytree(course / folder / student, target)
        shutil.copy(course / "grades.csv", c.REPO / "grades.csv")
        kept = keep_gradebook(course)
    print(f"\nScores ({env['COURSE_MODE']} mode; demo_solution's written answer marked by hand as the "
          "instructor would):\n" + table)
    print("\nSeconds: " + ", ".join(f"{name} {seconds:.0f}" for name, seconds in timings.items())
          + f"; total {time.perf_counter() - start:.0f}")
    print("Written: submitted/demo_*, autograded/demo_*, feedback/demo_*/, grades.csv" + (", " + kept if kept else ""))
    print("The formgrader shows them, with the written answers that wait for hand-grading: bash tools/formgrader.sh")
    return 0


def keep_gradebook(course: Path) -> str:
    """Put the demo round's gradebook at the repository root, where the formgrader reads it, unless
    a gradebook with other students' grades is there (it is never overwritten). Says what it did."""
    from nbgrader.api import Gradebook

    target = c.REPO / "gradebook.db"
    if target.exists():
        with Gradebook(c.gradebook_url(c.REPO)) as gradebook:
            others = [s.id for s in gradebook.students if not s.id.startswith("demo")]
        if others:
            print(f"Kept {target.name}: it holds the grades of {len(others)} students who are not demo students; "
                  "the demo's gradebook is not copied over it")
            return ""
    shutil.copy(course / "gradebook.db", target)
    return "gradebook.db (the demo round's gradebook, replacing any earlier demo one)"


def grade(args) -> int:
    from grading.parallel import grade_all
    from grading.report import REPORT
    from grading.sandbox import SandboxUnavailable

    env = {name: os.environ[name] for name in ("COURSE_MODE", "CIFAR10_PATH") if os.environ.get(name)}
    course = Path(args.course).resolve()
    start = time.perf_counter()
    if args.no_sandbox:
        print("WARNING: grading without the sandbox: students' code runs with your rights, memory, network "
              "and files (--no-sandbox)", file=sys.stderr)
    try:
        outcomes = grade_all(course, env, workers=args.workers, scheduler=args.scheduler, students=args.student,
                             force=args.force,
                             retry_failed=args.retry_failed, database=args.database, sandbox=not args.no_sandbox,
                             limits_way=args.limits,
                             progress_file=Path(args.progress_file) if args.progress_file else None)
    except SandboxUnavailable as error:
        print(f"Not grading: {error}\nFix the above (README: 'The sandbox'), or grade without it at your own "
              "risk with --no-sandbox.", file=sys.stderr)
        return 2
    counts = {status: sum(o.status == status for o in outcomes) for status in ("graded", "unchanged", "failed")}
    print(f"{len(outcomes)} submissions in {time.perf_counter() - start:.0f} s: "
          + ", ".join(f"{n} {status}" for status, n in counts.items()) + f"; telemetry in {course / REPORT}")
    for outcome in outcomes:
        if outcome.status == "failed":
            print(f"  {outcome.student}: failed: {outcome.reason}")
        if outcome.notes:
            print(f"  {outcome.student}: {outcome.notes}")
    return 1 if counts["failed"] else 0


def feedback(args) -> int:
    from grading import feedback as fb

    results = fb.generate(Path(args.course).resolve(), database=args.database)
    failed = [result for result in results if result.status == "failed"]
    print(f"Feedback for {len(results)} students in {Path(args.course).resolve() / 'feedback'}"
          + (f"; {len(failed)} failed:" if failed else ""))
    for result in failed:
        print(f"  {result.student}: {result.reason}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("release", help="regenerate release/cifar10 from source/cifar10")
    run = commands.add_parser("demo", help="release, demo submissions, autograde, feedback, score table")
    run.add_argument("--mode", choices=("fast", "full"),
                     help="COURSE_MODE of the demo notebooks (default: $COURSE_MODE, else fast)")
    parallel = commands.add_parser("grade", help="autograde every submission with several workers at once")
    parallel.add_argument("--workers", type=int, help="local workers (default: one per CPU)")
    parallel.add_argument("--scheduler", help="address of a Dask scheduler to grade on instead")
    parallel.add_argument("--student", action="append",
                          help="grade only this student's submission (repeat for several; default: every one)")
    parallel.add_argument("--force", action="store_true", help="regrade unchanged submissions too")
    parallel.add_argument("--retry-failed", action="store_true",
                          help="grade again the submissions whose last grading failed, though unchanged")
    parallel.add_argument("--course", default=str(c.REPO), help="the nbgrader course folder")
    parallel.add_argument("--no-sandbox", action="store_true",
                          help="grade without the sandbox (only for code you trust: it runs with your rights)")
    parallel.add_argument("--limits", choices=("auto", "cgroup-v1", "cgroup-v2", "watchdog"), default="auto",
                          help="how a submission's memory and processes are bounded: cgroup v1 (root), cgroup v2 "
                          "(root, or a delegated subtree), or a watchdog (any user); default: the first that works "
                          "here, in that order")
    parallel.add_argument("--database", help="the gradebook's URL (default: the course's gradebook.db, "
                          "SQLite); e.g. postgresql+psycopg://user@host/gradebook")
    parallel.add_argument("--progress-file", help="keep the progress, as JSON, in this file (the formgrader shows it)")
    notes = commands.add_parser("feedback", help="every student's feedback, one bounded run each")
    notes.add_argument("--course", default=str(c.REPO), help="the nbgrader course folder")
    notes.add_argument("--database", help="the gradebook's URL (default: the course's gradebook.db)")
    args = parser.parse_args(argv)
    if args.command == "grade":
        return grade(args)
    if args.command == "feedback":
        return feedback(args)
    if args.command == "release":
        print(f"Regenerated {regenerate_release().relative_to(c.REPO)}")
        return 0
    return demo(args.mode)


if __name__ == "__main__":
    sys.exit(main())
