"""Instructor commands.

    python -m grading release          regenerate release/cifar10 from source/cifar10
    python -m grading demo [--mode M]  the main job: release, demo submissions, autograde,
                                       feedback, grades CSV and a score table

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
        timings = c.grade_demo_round(course, env)
        table = c.score_table(c.scores(course))
        # Demo students' results go where an nbgrader user looks for them.
        for folder in ("autograded", "feedback"):
            for student in c.DEMO_STUDENTS:
                target = c.REPO / folder / student
                if target.exists():
                    shutil.rmtree(target)
                shutil.copytree(course / folder / student, target)
        shutil.copy(course / "grades.csv", c.REPO / "grades.csv")
    print(f"\nScores ({env['COURSE_MODE']} mode; demo_solution's written answer marked by hand as the "
          "instructor would):\n" + table)
    print("\nSeconds: " + ", ".join(f"{name} {seconds:.0f}" for name, seconds in timings.items())
          + f"; total {time.perf_counter() - start:.0f}")
    print("Written: autograded/demo_*, feedback/demo_*/, grades.csv")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("release", help="regenerate release/cifar10 from source/cifar10")
    run = commands.add_parser("demo", help="release, demo submissions, autograde, feedback, score table")
    run.add_argument("--mode", choices=("fast", "full"),
                     help="COURSE_MODE of the demo notebooks (default: $COURSE_MODE, else fast)")
    args = parser.parse_args(argv)
    if args.command == "release":
        print(f"Regenerated {regenerate_release().relative_to(c.REPO)}")
        return 0
    return demo(args.mode)


if __name__ == "__main__":
    sys.exit(main())
