"""Evaluation time of `assg_tf.evaluation` against a straightforward per-prediction loop
(docs/DESIGN.md "Figures").

    python benchmarks/bench_evaluation.py [--repeats=3] [--num_predictions=100000]

Times, on the same inputs, (a) reading the JSON objects into arrays, (b) the vectorised
`evaluate_detection`, and (c) `reference_map` below, a plain Python loop over the predictions
of the same algorithm (docs/DESIGN.md "Evaluation"), and checks that both give the same per-class
AP.
Inputs: the THUMOS'14 and ActivityNet fixtures of tests/fixtures/eval, and a synthetic
THUMOS'14-sized case (213 videos, 20 classes, ~3,400 ground truth segments, 100,000
predictions). Goal: under one second each.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from assg_tf import evaluation

FIXTURES = os.path.join(os.path.dirname(__file__), os.pardir, "tests", "fixtures", "eval")


def _tiou(s: float, e: float, gs: float, ge: float) -> float:
  inter = max(0.0, min(e, ge) - max(s, gs))
  union = (e - s) + (ge - gs) - inter
  return inter / union if union > 0 else 0.0


def _voc_ap(tp: List[int], num_positives: int) -> float:
  """All-point interpolated AP, written out step by step."""
  precision, recall = [], []
  hits = 0
  for k, t in enumerate(tp):
    hits += t
    precision.append(hits / (k + 1))
    recall.append(hits / num_positives)
  mprec = [0.0] + precision + [0.0]
  mrec = [0.0] + recall + [1.0]
  for i in range(len(mprec) - 2, -1, -1):
    mprec[i] = max(mprec[i], mprec[i + 1])
  return sum((mrec[i] - mrec[i - 1]) * mprec[i] for i in range(1, len(mrec))
             if mrec[i] != mrec[i - 1])


def reference_map(gt: Dict[str, Any], pred: Dict[str, Any], subset: Optional[str],
                  tiou_thresholds: Sequence[float], ignore_ambiguous: bool = False
                  ) -> Tuple[List[str], np.ndarray]:
  """Per-class AP [C, T] by a per-prediction Python loop; classes in order of appearance."""
  gts: Dict[Tuple[str, str], List[Tuple[float, float]]] = {}
  ambiguous: Dict[str, List[Tuple[float, float]]] = {}
  classes: List[str] = []
  for vid, entry in gt["database"].items():
    if subset is not None and entry["subset"] != subset:
      continue
    for ann in entry["annotations"]:
      seg = (float(ann["segment"][0]), float(ann["segment"][1]))
      if ann["label"] == evaluation.AMBIGUOUS:
        ambiguous.setdefault(vid, []).append(seg)
        continue
      if ann["label"] not in classes:
        classes.append(ann["label"])
      gts.setdefault((vid, ann["label"]), []).append(seg)
  by_class: Dict[str, list] = {c: [] for c in classes}
  for vid, dets in pred["results"].items():
    for d in dets:
      by_class[d["label"]].append((vid, float(d["segment"][0]), float(d["segment"][1]),
                                   float(d["score"])))
  ap = np.zeros((len(classes), len(tiou_thresholds)))
  for c, name in enumerate(classes):
    num_positives = sum(len(g) for (_, label), g in gts.items() if label == name)
    ranked = sorted(by_class[name], key=lambda p: -p[3])  # stable: ties keep file order
    for j, thr in enumerate(tiou_thresholds):
      used = set()
      tp = []
      for vid, s, e, _ in ranked:
        best, best_iou = None, -1.0
        for g, (gs, ge) in enumerate(gts.get((vid, name), [])):
          iou = _tiou(s, e, gs, ge)
          if (vid, g) not in used and iou >= thr and iou >= best_iou:  # ties: the later one
            best, best_iou = g, iou
        if best is not None:
          used.add((vid, best))
          tp.append(1)
        elif ignore_ambiguous and any(min(e, ae) - max(s, as_) > 0
                                      for as_, ae in ambiguous.get(vid, [])):
          continue  # dropped
        else:
          tp.append(0)
      ap[c, j] = _voc_ap(tp, num_positives)
  return classes, ap


def synthetic_case(num_videos: int = 213, num_classes: int = 20,
                   num_predictions: int = 100_000, seed: int = 0
                   ) -> Tuple[Dict[str, Any], Dict[str, Any]]:
  """A THUMOS'14-sized case: ~16 segments of 1-2 classes per video, jittered and random
  detections (scores rounded to 1e-4, so some tie)."""
  rng = np.random.default_rng(seed)
  names = [f"class_{c:02d}" for c in range(num_classes)]
  database, results = {}, {}
  per_video = rng.multinomial(num_predictions, np.full(num_videos, 1.0 / num_videos))
  for v in range(num_videos):
    vid = f"video_{v:04d}"
    duration = float(rng.uniform(30, 300))
    labels = rng.choice(num_classes, size=rng.integers(1, 3), replace=False)
    k = max(1, rng.poisson(16))
    length = rng.uniform(1, 10, k)
    start = rng.uniform(0, duration - length)
    seg_labels = rng.choice(labels, k)
    database[vid] = {"subset": "test", "duration": duration, "annotations": [
        {"label": names[c], "segment": [round(s, 2), round(s + l, 2)]}
        for c, s, l in zip(seg_labels, start, length)]}
    n = per_video[v]
    kind = rng.choice(3, n, p=[0.6, 0.3, 0.1])  # jittered gt, random in-label, other class
    src = rng.integers(0, k, n)
    centre = start[src] + length[src] * (0.5 + rng.normal(0, 0.3, n))
    width = length[src] * rng.uniform(0.5, 1.5, n)
    rand_width = rng.uniform(1, 20, n)
    rand_centre = rng.uniform(0, duration, n)
    centre = np.where(kind == 0, centre, rand_centre)
    width = np.where(kind == 0, width, rand_width)
    cls = np.where(kind == 0, seg_labels[src],
                   np.where(kind == 1, rng.choice(labels, n), rng.integers(0, num_classes, n)))
    score = np.round(np.where(kind == 0, rng.uniform(0.3, 1, n), rng.uniform(0, 0.7, n)), 4)
    results[vid] = [{"label": names[c], "segment": [round(m - w / 2, 3), round(m + w / 2, 3)],
                     "score": float(s)} for c, m, w, s in zip(cls, centre, width, score)]
  return ({"version": "synthetic", "database": database},
          {"version": evaluation.RESULTS_VERSION, "results": results, "external_data": {}})


def _best_time(fn, repeats: int) -> Tuple[float, float, Any]:
  """Best wall-clock and best CPU (process) time over `repeats` runs, and fn's result."""
  wall, cpu, out = float("inf"), float("inf"), None
  for _ in range(repeats):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    wall = min(wall, time.perf_counter() - w0)
    cpu = min(cpu, time.process_time() - c0)
  return wall, cpu, out


def run_case(name: str, gt: Dict[str, Any], pred: Dict[str, Any], subset: Optional[str],
             thresholds: Sequence[float], repeats: int) -> None:
  """Prints the timings of one case and checks both implementations agree."""
  load_s, _, (ground_truth, predictions) = _best_time(
      lambda: (evaluation.load_ground_truth(gt, subset), evaluation.load_predictions(pred)),
      repeats)
  eval_s, eval_cpu, result = _best_time(
      lambda: evaluation.evaluate_detection(ground_truth, predictions, thresholds), repeats)
  ref_s, _, (ref_classes, ref_ap) = _best_time(
      lambda: reference_map(gt, pred, subset, thresholds), 1)
  assert list(result.class_names) == ref_classes
  diff = float(np.abs(result.per_class_AP - ref_ap).max())
  assert diff < 1e-9, f"{name}: vectorised and loop per-class AP differ by {diff}"
  print(f"{name:<28} {len(predictions):>8} {len(ground_truth.labels):>6} "
        f"{load_s:>9.3f} {eval_s:>9.3f} {eval_cpu:>9.3f} {ref_s:>9.2f} {ref_s / eval_s:>8.0f}x "
        f"{result.average_mAP:>9.4f} {diff:>9.1e}")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
  parser.add_argument("--num_predictions", type=int, default=100_000)
  args = parser.parse_args()
  print(f"numpy {np.__version__}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}; seconds, best of {args.repeats} (loop: one run); load = "
        "JSON objects to arrays, evaluate = evaluate_detection (wall, cpu)")
  print(f"{'case':<28} {'preds':>8} {'gt':>6} {'load':>9} {'evaluate':>9} {'eval cpu':>9} "
        f"{'loop':>9} "
        f"{'speedup':>9} {'avg mAP':>9} {'max|dAP|':>9}")
  with open(os.path.join(FIXTURES, "expected.json"), encoding="utf-8") as f:
    expected = json.load(f)
  for name, case in expected.items():
    with open(os.path.join(FIXTURES, case["ground_truth"]), encoding="utf-8") as f:
      gt = json.load(f)
    with open(os.path.join(FIXTURES, case["predictions"]), encoding="utf-8") as f:
      pred = json.load(f)
    run_case(name, gt, pred, case["subset"], case["tiou_thresholds"], args.repeats)
  gt, pred = synthetic_case(num_predictions=args.num_predictions)
  run_case(f"synthetic THUMOS {args.num_predictions // 1000}k", gt, pred, "test",
           evaluation.THUMOS14_TIOU, args.repeats)
  run_case(f"synthetic ANet tIoU {args.num_predictions // 1000}k", gt, pred, "test",
           evaluation.ANET_TIOU, args.repeats)


if __name__ == "__main__":
  main()
