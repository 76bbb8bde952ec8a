"""Whole-process cost of `python -m assg_tf.evaluate`: wall time and peak memory (docs/DESIGN.md
"Figures", "Pitfalls").

    python benchmarks/bench_evaluate_process.py [--repeats=3] [--case=thumos14_test]

Runs, each in a fresh Python process and `--repeats` times, on a fixture of tests/fixtures/eval:
(a) `python -m assg_tf.evaluate` (reading the JSON files, evaluating, printing the table),
(b) the same evaluation by `reference_map` of benchmarks/bench_evaluation.py, the plain
per-prediction Python loop over numpy inputs, and (c) a Python that only imports numpy (the
floor both pay). Prints the median wall-clock seconds and the median peak resident memory
(ru_maxrss of that child, from os.wait4), and checks that (a) and (b) give the same mAP.
Goal (issue 11): (a) under 1 s and 150 MB, with no TensorFlow import.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, os.pardir, "tests", "fixtures", "eval")

# Run in the child: the per-prediction loop of bench_evaluation.py on the same files.
_REFERENCE = """
import json, sys
sys.path.insert(0, {here!r})
import bench_evaluation
with open({gt!r}, encoding="utf-8") as f:
  gt = json.load(f)
with open({pred!r}, encoding="utf-8") as f:
  pred = json.load(f)
_, ap = bench_evaluation.reference_map(gt, pred, {subset!r}, {thresholds!r})
with open({out!r}, "w", encoding="utf-8") as f:
  json.dump({{"mAP": ap.mean(axis=0).tolist()}}, f)
"""


def run_once(cmd: List[str]) -> Tuple[float, float]:
  """(wall seconds, peak RSS in MB) of one child process; its output is discarded."""
  start = time.perf_counter()
  proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
  stderr = proc.stderr.read()
  _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
  wall = time.perf_counter() - start
  proc.returncode = os.waitstatus_to_exitcode(status)
  proc.stderr.close()
  if proc.returncode:
    raise SystemExit(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}): {stderr[-2000:]}")
  return wall, usage.ru_maxrss / 1024  # Linux: kilobytes


def median_cost(cmd: List[str], repeats: int) -> Tuple[float, float]:
  runs = [run_once(cmd) for _ in range(repeats)]
  return statistics.median(w for w, _ in runs), statistics.median(m for _, m in runs)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=3, help="median of this many runs")
  parser.add_argument("--case", default="thumos14_test", help="key of expected.json")
  args = parser.parse_args()
  with open(os.path.join(FIXTURES, "expected.json"), encoding="utf-8") as f:
    case = json.load(f)[args.case]
  gt = os.path.abspath(os.path.join(FIXTURES, case["ground_truth"]))
  pred = os.path.abspath(os.path.join(FIXTURES, case["predictions"]))
  thresholds = case["tiou_thresholds"]
  with tempfile.TemporaryDirectory() as tmp:
    evaluate_out = os.path.join(tmp, "evaluate.json")
    reference_out = os.path.join(tmp, "reference.json")
    commands = {
        "python -m assg_tf.evaluate": [
            sys.executable, "-m", "assg_tf.evaluate", f"--ground_truth={gt}",
            f"--predictions={pred}", f"--subset={case['subset']}",
            f"--tiou_thresholds={','.join(map(str, thresholds))}", f"--output={evaluate_out}"],
        "per-prediction loop (bench_evaluation)": [
            sys.executable, "-c", _REFERENCE.format(here=HERE, gt=gt, pred=pred,
                                                    subset=case["subset"],
                                                    thresholds=thresholds, out=reference_out)],
        "python -c 'import numpy' (floor)": [sys.executable, "-c", "import numpy"],
    }
    print(f"{args.case}: {case['num_predictions']} predictions, {len(thresholds)} tIoU "
          f"thresholds; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"median of {args.repeats} fresh processes")
    print(f"{'process':<42} {'wall (s)':>9} {'peak RSS (MB)':>14}")
    for name, cmd in commands.items():
      wall, peak = median_cost(cmd, args.repeats)
      print(f"{name:<42} {wall:>9.3f} {peak:>14.1f}")
    with open(evaluate_out, encoding="utf-8") as f:
      got = json.load(f)["mAP"]
    with open(reference_out, encoding="utf-8") as f:
      want = json.load(f)["mAP"]
  diff = max(abs(a - b) for a, b in zip(got, want))
  assert diff < 1e-9, f"evaluate and the loop disagree on mAP by {diff}"
  print(f"mAP of evaluate and of the loop agree (max |diff| {diff:.1e}); average mAP "
        f"{sum(got) / len(got):.4f}")


if __name__ == "__main__":
  main()
