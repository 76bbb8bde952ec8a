"""`python -m assg_tf.evaluate`: detection mAP of a results file (SPEC sections 4 and 5).

    python -m assg_tf.evaluate --ground_truth=G --predictions=P --subset=S \\
        --tiou_thresholds=0.1,0.2,0.3,0.4,0.5,0.6,0.7 [--ambiguous] [--per_class] [--output=J]

G is a ground truth file (a training run writes its test split's as OUT/ground_truth.json), or
`thumos14` / `activitynet13` for the annotations shipped in assg_tf/data.

Prints a table of mAP per tIoU threshold and the averages (over all thresholds, and over
0.1:0.5 when those are all given, the paper's THUMOS'14 figure), optionally AP per class.
`--output` writes `{"tiou_thresholds", "mAP", "average_mAP", ["average_mAP_0.1_0.5"],
"per_class_AP": {class: [AP per threshold]}}` atomically (null for a class without ground
truth). Flags can come from `--flagfile`: `--tiou_thresholds` and `--thumos_ambiguous`
(alias `--ambiguous`) are the shared flags of `assg_tf.flags`, so the training flag files
work here too. Bad input ends with a one-line error naming the file, video and value.
Detections that are legal but suspicious are counted on stderr, one line per kind: those of
videos not in the ground truth (subset), negative starts, zero-length segments; the mAP is
computed as the official evaluator does, whatever they are.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from typing import List, Optional, Sequence

from absl import app
from absl import flags

from assg_tf import evaluation
from assg_tf import flags as flags_lib

flags_lib.define_flags()
flags.declare_key_flag("tiou_thresholds")
flags.declare_key_flag("thumos_ambiguous")
flags.DEFINE_string("ground_truth", None, "Ground truth JSON (ActivityNet `database` format), "
                    "e.g. OUT/ground_truth.json of a training run (subset = its test split), "
                    "or thumos14 / activitynet13: the annotations shipped in assg_tf/data "
                    "(subsets validation, test / training, validation).")
flags.DEFINE_string("predictions", None, "Detections JSON (ActivityNet results format).")
flags.DEFINE_string("subset", None, "Evaluate the videos of this subset of the ground truth "
                    "(e.g. test, validation; case-sensitive). Default: all videos.")
flags.DEFINE_alias("ambiguous", "thumos_ambiguous")
flags.DEFINE_bool("per_class", False, "Also print AP per class.")
flags.DEFINE_string("output", None, "Write the metrics to this JSON file.")

FLAGS = flags.FLAGS
SHIPPED = ("thumos14", "activitynet13")  # --ground_truth names (assg_tf.features.DATASETS)


def parse_thresholds(values: Sequence[str]) -> List[float]:
  """--tiou_thresholds strings -> floats; ValueError naming the flag."""
  try:
    return [float(v) for v in values]
  except ValueError:
    raise ValueError(f"--tiou_thresholds={','.join(values)}: expected comma-separated numbers "
                     "in (0, 1]") from None


def format_table(result: evaluation.DetectionResult, per_class: bool = False) -> str:
  """Readable table: mAP (%) per threshold, the averages, optionally AP (%) per class."""
  summary = evaluation.summarize(result)
  thr = summary["tiou_thresholds"]
  lines = [f"{'tIoU':>6}  {'mAP (%)':>8}"]
  lines += [f"{t:>6.2f}  {100 * m:>8.2f}" for t, m in zip(thr, summary["mAP"])]
  lines.append(f"average mAP (%) over tIoU {thr[0]:g}:{thr[-1]:g}: "
               f"{100 * summary['average_mAP']:.2f}")
  if "average_mAP_0.1_0.5" in summary:
    lines.append(f"average mAP (%) over tIoU 0.1:0.5: "
                 f"{100 * summary['average_mAP_0.1_0.5']:.2f}")
  if per_class:
    width = max(len("class"), *(len(n) for n in result.class_names))
    lines += ["", f"AP (%) per class", f"{'class':<{width}}  {'#gt':>5}  " +
              "  ".join(f"{t:>6.2f}" for t in thr)]
    for name, count, row in zip(result.class_names, result.num_ground_truth,
                                result.per_class_AP):
      cells = "  ".join("     -" if ap != ap else f"{100 * ap:>6.2f}" for ap in row)
      lines.append(f"{name:<{width}}  {count:>5}  {cells}")
  return "\n".join(lines)


def metrics_dict(result: evaluation.DetectionResult) -> dict:
  """What --output writes."""
  out = evaluation.summarize(result)
  out["per_class_AP"] = {
      name: [None if ap != ap else float(ap) for ap in row]
      for name, row in zip(result.class_names, result.per_class_AP)}
  return out


def read_ground_truth(name_or_path: str, subset: Optional[str]) -> evaluation.GroundTruth:
  """--ground_truth: a file, or the name of a benchmark whose annotations ship with assg_tf
  (`features.shipped_ground_truth`); an existing file of that name wins."""
  if name_or_path in SHIPPED and not os.path.exists(name_or_path):
    from assg_tf import features  # pylint: disable=g-import-not-at-top
    data = features.shipped_ground_truth(name_or_path)
    gt = evaluation.load_ground_truth(data, subset=subset)
    return dataclasses.replace(gt, source=f"{name_or_path} (assg_tf/data)")
  return evaluation.load_ground_truth(name_or_path, subset=subset)


def check_lines(checks: evaluation.PredictionChecks, subset: Optional[str]) -> List[str]:
  """One warning line per kind of suspicious detection found (none when all is well)."""
  lines = []
  if checks.unknown_video_detections:
    where = "the ground truth" if subset is None else f"subset {subset!r} of the ground truth"
    lines.append(f"warning: {checks.unknown_video_detections} detections of "
                 f"{checks.unknown_videos} videos not in {where}: counted as false positives")
  if checks.negative_start:
    lines.append(f"warning: {checks.negative_start} detections start before 0 s: evaluated "
                 "as given")
  if checks.zero_length:
    lines.append(f"warning: {checks.zero_length} detections have zero length (end == start): "
                 "tIoU 0, false positives at every threshold")
  return lines


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  if not FLAGS.ground_truth or not FLAGS.predictions:
    raise app.UsageError("--ground_truth and --predictions are required")
  try:
    thresholds = parse_thresholds(FLAGS.tiou_thresholds)
    ground_truth = read_ground_truth(FLAGS.ground_truth, FLAGS.subset)
    predictions = evaluation.load_predictions(FLAGS.predictions)
    result = evaluation.evaluate_detection(ground_truth, predictions, thresholds,
                                           ignore_ambiguous=FLAGS.thumos_ambiguous)
  except ValueError as e:
    sys.exit(f"error: {e}")
  subset = "all videos" if FLAGS.subset is None else f"subset {FLAGS.subset!r}"
  print(f"ground truth: {ground_truth.source} ({subset}): {len(ground_truth.video_ids)} videos, "
        f"{len(ground_truth.labels)} segments, {ground_truth.num_classes} classes, "
        f"{len(ground_truth.ambiguous_video)} Ambiguous segments"
        f"{' (ignored detections on them)' if FLAGS.thumos_ambiguous else ''}")
  print(f"predictions: {FLAGS.predictions}: {len(predictions)} detections in "
        f"{len(predictions.video_ids)} videos")
  for line in check_lines(evaluation.check_predictions(ground_truth, predictions), FLAGS.subset):
    print(line, file=sys.stderr)
  print(format_table(result, per_class=FLAGS.per_class))
  if FLAGS.output:
    evaluation.write_json(FLAGS.output, metrics_dict(result))
    print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
  app.run(flags_lib.with_clear_errors(main))
