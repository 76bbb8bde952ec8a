"""`python -m assg_tf.evaluate`: detection mAP of a results file (docs/DESIGN.md "Evaluation",
"Commands").

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

import sys
from typing import List, Sequence

from absl import app
from absl import flags

from assg_tf import evaluation
from assg_tf import flags as flags_lib
from assg_tf import run_dir

FLAGS = flags.FLAGS


def define_flags() -> None:
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


def _thresholds(values: Sequence[str]) -> List[float]:
  """--tiou_thresholds strings -> floats; ValueError naming the flag."""
  try:
    return [float(v) for v in values]
  except ValueError:
    raise ValueError(f"--tiou_thresholds={','.join(values)}: expected comma-separated numbers "
                     "in (0, 1]") from None


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  if not FLAGS.ground_truth or not FLAGS.predictions:
    raise app.UsageError("--ground_truth and --predictions are required")
  thresholds = _thresholds(FLAGS.tiou_thresholds)
  ground_truth = evaluation.read_ground_truth(FLAGS.ground_truth, FLAGS.subset)
  predictions = evaluation.load_predictions(FLAGS.predictions)
  result = evaluation.evaluate_detection(ground_truth, predictions, thresholds,
                                         ignore_ambiguous=FLAGS.thumos_ambiguous)
  subset = "all videos" if FLAGS.subset is None else f"subset {FLAGS.subset!r}"
  print(f"ground truth: {ground_truth.source} ({subset}): {len(ground_truth.video_ids)} videos, "
        f"{len(ground_truth.labels)} segments, {ground_truth.num_classes} classes, "
        f"{len(ground_truth.ambiguous_video)} Ambiguous segments"
        f"{' (ignored detections on them)' if FLAGS.thumos_ambiguous else ''}")
  print(f"predictions: {FLAGS.predictions}: {len(predictions)} detections in "
        f"{len(predictions.video_ids)} videos")
  checks = evaluation.check_predictions(ground_truth, predictions)
  for line in evaluation.warning_lines(checks, FLAGS.subset):
    print(line, file=sys.stderr)
  print(evaluation.format_result(result, per_class=FLAGS.per_class))
  if FLAGS.output:
    run_dir.write_json(FLAGS.output, evaluation.metrics_dict(result))
    print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
  flags_lib.run_command(main, define_flags)
