"""Evidence for the accuracy thresholds: run the solution notebooks of Parts 2-5 under several seeds.

Usage: CIFAR10_PATH=... .venv/bin/python benchmarks/accuracy_evidence.py [--mode fast] [--seeds 5]
                          [--first-seed 0] [--parts part2_mlp part3_cnn part4_binary part5_deeper]

Each run executes the instructor notebooks in a clean copy with COURSE_SEED set (initial weights,
shuffling and dropout change; the data subset stays the same), reads the test accuracy that each
accuracy cell prints (one per model: Part 5 has two), and finally prints every run beside the
thresholds of cifar10_course.modes. Fast mode takes about 3 minutes per seed on 2 CPU cores; full
mode hours (use a GPU).
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
from pathlib import Path

import nbformat

from cifar10_course.modes import MODES
from grading import course as c

PARTS = ("part2_mlp", "part3_cnn", "part4_binary", "part5_deeper")
# The line cifar10_course's accuracy checks show (cifar10_course.accuracy_checks.accuracy_line), as
# text or as a display output's text/plain: the accuracy, then the model's name.
PRINTED = re.compile(r"Test accuracy: ([0-9.]+) on [0-9,]+ test images \(([\w/]+)[:;]")


def accuracies(folder: Path, parts) -> dict[str, float]:
    """Model name -> the first test accuracy printed for it (the visible accuracy test)."""
    found = {}
    for part in parts:
        for cell in nbformat.read(folder / f"{part}.ipynb", as_version=4).cells:
            for output in cell.get("outputs", []):
                text = output.get("text") or output.get("data", {}).get("text/plain", "")
                for value, model in PRINTED.findall(text):
                    found.setdefault(model, float(value))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=sorted(MODES), default="fast")
    parser.add_argument("--seeds", type=int, default=5, help="how many seeds to run")
    parser.add_argument("--first-seed", type=int, default=0, help="the first COURSE_SEED")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    args = parser.parse_args()
    runs = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        with tempfile.TemporaryDirectory() as scratch:
            folder = c.copy_clean(c.REPO / "source" / c.ASSIGNMENT, Path(scratch) / "run")
            print(f"seed {seed}:", flush=True)
            c.execute_notebooks(folder, {"COURSE_MODE": args.mode, "COURSE_SEED": str(seed)}, names=args.parts)
            runs.append(accuracies(folder, args.parts))
            print("  " + ", ".join(f"{part} {value:.4f}" for part, value in runs[-1].items()), flush=True)
    print(f"\n{args.mode} mode, {len(runs)} seeds")
    print(f"{'model':<24}{'threshold':>10}{'min':>8}{'mean':>8}{'max':>8}  all runs")
    for model in sorted({name for run in runs for name in run}):
        values = [run[model] for run in runs if model in run]
        part, _, variant = model.partition("/")
        threshold = MODES[args.mode].parts[part].threshold(variant or None)
        print(f"{model:<24}{threshold:>10.2f}{min(values):>8.4f}{statistics.mean(values):>8.4f}"
              f"{max(values):>8.4f}  {' '.join(f'{v:.3f}' for v in values)}")


if __name__ == "__main__":
    main()
