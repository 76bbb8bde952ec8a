r"""`python -m assg_tf.visualize`: pictures of what the model sees, in the spirit of the paper's
Figure 3, and the training curves (docs/DESIGN.md "Commands").

    python -m assg_tf.visualize --model_dir=OUT --video_id=V [--split=test] [--class_name=C] \
        --output=fig.png [--curves=curves.png]

`--output` draws one video and one class (default: its top ground-truth class), one panel per
step of ASSG: ground truth, CAS localisation maps, initial seeds, grown regions, fused heatmap,
detections (`figures.video_maps`, `figures.draw_video`). `--curves` plots the training curves of
every stage from the TensorBoard logs in `OUT/logs`. The video's features come from the tfds
`wtal` dataset named in run.json (its data_dir unless `--data_dir` is given).

    python -m assg_tf.visualize --model_dir=OUT --video=X.mp4 --output=fig.png \
        [--features=X.npy] [--class_name=C]

`--video` draws a video file for a run trained with `--streams=rgb`: frames along the video's
timeline (the network's 224 x 224 view), the fused heatmap of the class (default: the video's
top-scoring class) and background, and the class's detections (`figures.draw_file`). Its I3D
RGB features are those of `--features` (e.g. what `predict --video` cached) or are extracted
(`extraction.features_for_run`, cached beside `--output`).
"""
from __future__ import annotations

from absl import app
from absl import flags

from assg_tf import figures
from assg_tf import flags as assg_flags

FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_string("model_dir", None, "The trained run.")
  flags.DEFINE_string("video_id", None, "The video to draw (with --output).")
  flags.DEFINE_string("split", "test", "The split of the run's dataset holding the video.")
  flags.DEFINE_string("data_dir", None, "tfds data dir; default: the run's.")
  flags.DEFINE_string("manual_dir", None, "tfds manual dir (real datasets); default: the run's.")
  flags.DEFINE_string("class_name", None, "Class to draw; default: the top ground-truth class.")
  flags.DEFINE_enum("variant", "assg", ["ssg", "assg"], "Whose heatmaps to grow and fuse.")
  flags.DEFINE_string("output", None, "PNG of the video.")
  flags.DEFINE_string("curves", None, "PNG of the training curves (OUT/logs).")
  flags.DEFINE_string("video", None, "A video file to draw (runs trained with --streams=rgb), "
                      "instead of --video_id.")
  flags.DEFINE_string("features", None, "With --video: its I3D RGB features (.npy); default: "
                      "extracted.")
  flags.DEFINE_string("i3d_checkpoint", None, "With --video: the Kinetics-400 I3D weights.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if not FLAGS.model_dir or not (FLAGS.output or FLAGS.curves):
    raise app.UsageError("--model_dir and at least one of --output, --curves are required")
  if FLAGS.video:
    if not FLAGS.output or FLAGS.video_id:
      raise app.UsageError("--video needs --output (and no --video_id)")
    maps = figures.draw_file(FLAGS.model_dir, FLAGS.video, FLAGS.output, FLAGS.features,
                             FLAGS.class_name, FLAGS.variant, FLAGS.i3d_checkpoint)
    figures.draw(FLAGS.model_dir, curves=FLAGS.curves)
  else:
    maps = figures.draw(FLAGS.model_dir, FLAGS.output, FLAGS.video_id, FLAGS.split,
                        FLAGS.class_name, FLAGS.variant, FLAGS.data_dir, FLAGS.manual_dir,
                        FLAGS.curves)
  if maps is not None:
    print(f"{maps['video_id']}, class {maps['class_name']}: {FLAGS.output}")
  if FLAGS.curves:
    print(f"training curves: {FLAGS.curves}")


if __name__ == "__main__":
  assg_flags.run_command(main, define_flags)
