r"""Detections for new videos from their features (docs/DESIGN.md "Commands"; paper 3.5).

    python -m assg_tf.predict --model_dir=OUT --features=V.npy --output=detections.json
    python -m assg_tf.predict --model_dir=OUT --features=RGB_DIR --flow_features=FLOW_DIR ...
    python -m assg_tf.predict --export_dir=OUT/export/1 --features=FOLDER ...
    python -m assg_tf.predict --model_dir=OUT --video=X.mp4 --output=detections.json

Inputs (`--features`: one .npy file or a folder of .npy files, video id = file name without
`.npy`):
- joint: each file is float [T, rgb_dim + flow_dim], rgb channels first;
- with `--flow_features`: `--features` holds rgb [T, rgb_dim] and `--flow_features` flow
  [T, flow_dim] (two files, or two folders matched by file name).

The model is either the trained run (`--model_dir`: run.json and `models/<variant>_<stream>.keras`,
run through `inference.Predictor`, the evaluation path) or an exported SavedModel (`--export_dir`:
a version folder, or the base folder, whose highest version is used), run through its
`serving_default` signature. Both give the same detections (tests/test_serving.py). The output
is the ActivityNet results format (`evaluation.write_predictions`), written atomically.

Bad input raises `features.FeatureError` naming the file: not a .npy file, wrong rank or width,
T = 0, NaN / inf, an rgb file without its flow file or the reverse, rgb and flow lengths that
differ. Choice where the design leaves it open: rgb and flow lengths may differ by at most
`features.MAX_LENGTH_MISMATCH` rows and are trimmed to the shorter, exactly as the training data
reader does (feature releases often compute flow on frame pairs, one row short); a larger
difference is an error.

Videos are sorted by length and run in padded batches of `--batch_size` (one call per batch,
not per video). The library behind the command: `features.read_features` (reading and
checking), `inference.predict_files` (the models and the batches).

`--video` (a video file or a folder of them) starts from the videos themselves, for a run
trained on the RGB stream only (`train --streams=rgb`) on 1024-d I3D features: their I3D RGB
features are extracted first (`extraction.features_for_run`, DeepMind's Kinetics-400 weights,
see `assg_tf.i3d` and `--i3d_checkpoint`) with snippets of the run's own length (step = stack =
seconds_per_segment x 25 frames: 16 for the THUMOS'14 configs), and cached in the per-video
layout under `--video_features` (default: `features/test/rgb/` beside `--output`; done videos
are not extracted again). Any flow columns of the run's features are zeros, which an RGB-only
run never reads (`inference.predict_video_files`).
"""
from __future__ import annotations

from absl import app
from absl import flags

from assg_tf import config as config_lib
from assg_tf import flags as assg_flags
from assg_tf import inference

FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_string("model_dir", None, "A trained run (run.json, models/*.keras).")
  flags.DEFINE_string("export_dir", None, "An exported SavedModel (a version folder or the "
                      "base folder of versions), instead of --model_dir.")
  flags.DEFINE_enum("variant", "assg", config_lib.VARIANTS, "With --model_dir: which variant.")
  flags.DEFINE_string("features", None, "A .npy file or a folder of them: joint [T, rgb+flow] "
                      "features, or rgb [T, rgb_dim] with --flow_features.")
  flags.DEFINE_string("flow_features", None, "Flow [T, flow_dim] features: a file, or a folder "
                      "matched to --features by file name.")
  flags.DEFINE_string("output", None, "Detections JSON (ActivityNet results format).")
  flags.DEFINE_integer("batch_size", 8, "Videos per forward pass.")
  flags.DEFINE_string("video", None, "A video file or a folder of them, instead of --features "
                      "(runs trained with --streams=rgb): I3D RGB features are extracted first.")
  flags.DEFINE_string("i3d_checkpoint", None, "With --video: the Kinetics-400 I3D weights "
                      "(default: searched, see assg_tf.i3d).")
  flags.DEFINE_string("video_features", None, "With --video: where the extracted features are "
                      "cached (features/test/rgb/<video>.npy); default: beside --output.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if bool(FLAGS.model_dir) == bool(FLAGS.export_dir):
    raise app.UsageError("give exactly one of --model_dir and --export_dir")
  if FLAGS.video:
    if not FLAGS.model_dir or FLAGS.features or not FLAGS.output:
      raise app.UsageError("--video needs --model_dir and --output (and no --features)")
    results = inference.predict_video_files(
        FLAGS.video, FLAGS.output, FLAGS.model_dir, FLAGS.variant, FLAGS.batch_size,
        FLAGS.i3d_checkpoint, FLAGS.video_features)
  else:
    if not FLAGS.features or not FLAGS.output:
      raise app.UsageError("--features and --output are required")
    results = inference.predict_files(
        FLAGS.features, FLAGS.output, FLAGS.model_dir or None, FLAGS.export_dir or None,
        FLAGS.variant, FLAGS.flow_features or None, FLAGS.batch_size)
  count = sum(len(v) for v in results.values())
  print(f"{count} detections in {len(results)} video(s) written to {FLAGS.output}")


if __name__ == "__main__":
  assg_flags.run_command(main, define_flags)
