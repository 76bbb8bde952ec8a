"""I3D features of video files, in the per-video layout `train` and `predict` read
(docs/DESIGN.md "Data" and "Your own videos"): `OUT/features/<split>/rgb/<video>.npy`, float32
[T, 1024].

The pipeline (Carreira & Zisserman, CVPR 2017, RGB stream; `assg_tf.video` for the decoding
rules): frames are decoded in a stream (`video.read_frames`), grouped into snippets
(`video.snippets`) and run through the network `batch_size` snippets at a time by one
`tf.function` whose input signature is uint8 [None, None, H, W, 3], so it is traced once for
every video and snippet length. Decoding runs in a background thread, one batch ahead of the
network (both release the GIL), so a video costs about max(decode, network), not the sum.

`extract_videos` is resumable: a video whose .npy exists is skipped (files are written
atomically, `run_dir.write_npy`, so an existing file is complete), and a video that fails
(unreadable, no frames, shorter than one snippet) is reported with its reason while the others
are still done. `extract_files` is `python -m assg_tf.extract_features` without its flags.

`features_for_run` gives the features of new videos for a trained run (`predict --video`,
`visualize --video`): the run must be RGB-only on 1024-d I3D features (`check_rgb_run`), its
snippets are the run's own length (step = stack = seconds_per_segment x 25 frames: 16 for the
THUMOS'14 configs), and the features are cached in the per-video layout (`features/test/rgb/`
under `cache_root`), so a video done once is not extracted again.

Library code: no flags (the command is `assg_tf.extract_features`).
"""
from __future__ import annotations

import dataclasses
import os
import queue
import threading
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from assg_tf import features as features_lib
from assg_tf import i3d
from assg_tf import run_dir
from assg_tf import video as video_lib

VideoError = video_lib.VideoError
STREAM = "rgb"
# on_batch(snippets done so far in this video)
ProgressFn = Callable[[int], None]


class Extractor:
  """Snippets -> features with one traced forward pass of `model` (uint8 frames -> [B, D])."""

  def __init__(self, model, batch_size: int = 4):
    if batch_size < 1:
      raise ValueError(f"batch_size={batch_size}: expected a positive int")
    self.model = model
    self.batch_size = int(batch_size)
    _, _, height, width, channels = model.input_shape
    spec = tf.TensorSpec([None, None, height, width, channels], tf.uint8)
    self.forward = tf.function(lambda frames: model(frames, training=False),
                               input_signature=[spec])
    self.feature_dim = int(model.output_shape[-1])

  def __call__(self, batch: np.ndarray) -> np.ndarray:
    """uint8 [B, frames, H, W, C] -> float32 [B, D]."""
    return self.forward(tf.constant(batch, tf.uint8)).numpy()

  def features(self, snippets: Iterable[np.ndarray],
               on_batch: Optional[ProgressFn] = None) -> np.ndarray:
    """float32 [T, D] of a stream of snippets; decoding runs one batch ahead in a thread."""
    rows = []
    for batch in _prefetch(_batches(snippets, self.batch_size)):
      rows.append(self(batch))
      if on_batch is not None:
        on_batch(sum(len(r) for r in rows))
    if not rows:
      return np.zeros([0, self.feature_dim], np.float32)
    return np.concatenate(rows).astype(np.float32)


def _batches(snippets: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
  batch = []
  for snippet in snippets:
    batch.append(snippet)
    if len(batch) == size:
      yield np.stack(batch)
      batch = []
  if batch:
    yield np.stack(batch)


_DONE = object()


def _prefetch(items: Iterator, depth: int = 1) -> Iterator:
  """Runs `items` in a background thread, `depth` items ahead; re-raises its errors here."""
  slots = queue.Queue(maxsize=depth)
  stop = threading.Event()

  def produce():
    try:
      for item in items:
        while not stop.is_set():
          try:
            slots.put((item, None), timeout=0.1)
            break
          except queue.Full:
            continue
        if stop.is_set():
          return
      slots.put((_DONE, None))
    except BaseException as e:  # pylint: disable=broad-except
      slots.put((_DONE, e))

  thread = threading.Thread(target=produce, daemon=True)
  thread.start()
  try:
    while True:
      item, error = slots.get()
      if item is _DONE:
        if error is not None:
          raise error
        return
      yield item
  finally:
    stop.set()
    while thread.is_alive():  # unblock a producer waiting on a full queue
      try:
        slots.get(timeout=0.1)
      except queue.Empty:
        pass
    thread.join()


def extract_video(path: str, extractor: Extractor, stack: int = video_lib.STACK,
                  step: int = video_lib.STEP, last: str = "drop", fps: float = video_lib.FPS,
                  on_batch: Optional[ProgressFn] = None) -> np.ndarray:
  """float32 [T, D] features of one video file.

  Raises:
    VideoError naming the file: unreadable, no frames, or fewer frames than one snippet.
  """
  count = [0]

  def counted(frames):
    for frame in frames:
      count[0] += 1
      yield frame

  height, width = extractor.model.input_shape[2:4]
  if height != width:
    raise ValueError(f"the network reads {height}x{width} frames; expected square crops")
  frames = counted(video_lib.read_frames(path, fps, crop=height,
                                         short_side=max(video_lib.SHORT_SIDE, height)))
  feats = extractor.features(video_lib.snippets(frames, stack, step, last), on_batch)
  if count[0] == 0:
    raise VideoError(f"{path}: no frames decoded")
  if len(feats) == 0:
    need = stack if last == "drop" else int(np.ceil(video_lib.MIN_WRAP_FRACTION * stack))
    raise VideoError(f"{path}: {count[0]} frames at {fps:g} fps, fewer than one snippet "
                     f"({need} frames with --stack_size={stack}, --last_snippet={last})")
  return feats


def feature_folder(output_dir: str, split: str) -> str:
  """`output_dir/features/<split>/rgb`: the RGB folder of the per-video layout."""
  return os.path.join(output_dir, "features", split, STREAM)


def feature_path(output_dir: str, split: str, video: str) -> str:
  """`output_dir/features/<split>/rgb/<video>.npy`."""
  return os.path.join(feature_folder(output_dir, split), video + ".npy")


@dataclasses.dataclass
class Summary:
  """What `extract_videos` did: video ids written, skipped (already there), failed (reason)."""
  done: List[str] = dataclasses.field(default_factory=list)
  skipped: List[str] = dataclasses.field(default_factory=list)
  failed: List[Tuple[str, str]] = dataclasses.field(default_factory=list)


def extract_videos(videos: Sequence[Tuple[str, str]], output_dir: str, extractor: Extractor,
                   split: str = "test", stack: int = video_lib.STACK,
                   step: int = video_lib.STEP, last: str = "drop", fps: float = video_lib.FPS,
                   progress: Optional[Callable[[str, str], Optional[ProgressFn]]] = None
                   ) -> Summary:
  """Writes the features of `videos` ((video id, file), ...) atomically; skips videos already
  done; a failing video is recorded in `Summary.failed` and the others are still done.

  `progress(video, path)` may return a per-batch callback for that video (a progress bar).
  """
  summary = Summary()
  for video, path in videos:
    out = feature_path(output_dir, split, video)
    if os.path.isfile(out):
      summary.skipped.append(video)
      continue
    on_batch = progress(video, path) if progress is not None else None
    try:
      feats = extract_video(path, extractor, stack, step, last, fps, on_batch)
    except VideoError as e:
      summary.failed.append((video, str(e)))
      continue
    run_dir.write_npy(out, feats)
    summary.done.append(video)
  return summary


def make_extractor(checkpoint: Optional[str] = None, batch_size: int = 4) -> Extractor:
  """The real I3D with DeepMind's Kinetics-400 weights (`i3d.find_checkpoint` runs first, so a
  missing checkpoint fails before the network is built)."""
  path = i3d.find_checkpoint(checkpoint)
  return Extractor(i3d.load_kinetics_weights(i3d.build_i3d(), path), batch_size)


def progress_bar(video: str, path: str, stack: int, step: int, last: str) -> ProgressFn:
  """A per-video keras Progbar over snippets (its length estimated from the container)."""
  import keras  # pylint: disable=g-import-not-at-top
  frames = video_lib.duration_frames(path)
  target = video_lib.num_snippets(frames, stack, step, last) if frames else None
  print(f"{video} ({path})", flush=True)
  bar = keras.utils.Progbar(target or None, unit_name="snippet")
  return lambda done: bar.update(done)


def extract_files(videos: str, output: str, split: str = "test",
                  i3d_checkpoint: Optional[str] = None, stack_size: int = video_lib.STACK,
                  step_size: int = video_lib.STEP, last_snippet: str = "drop",
                  batch_size: int = 4, extractor: Optional[Extractor] = None,
                  show_progress: bool = True) -> Summary:
  """`python -m assg_tf.extract_features` without its flags: the features of a video file or
  of the video files of a folder into `output`/features/<split>/rgb/; returns the `Summary`.

  The network is built (`make_extractor`) only when some video is not done yet.
  """
  video_lib.import_av()
  video_lib.check_snippets(stack_size, step_size, last_snippet)
  if not split or os.sep in split:
    raise ValueError(f"--split={split!r}: expected a folder name such as test or train")
  listed = video_lib.list_videos(videos)
  todo = [v for v, _ in listed if not os.path.isfile(feature_path(output, split, v))]
  if extractor is None and todo:
    extractor = make_extractor(i3d_checkpoint, batch_size)
  progress = None
  if show_progress:
    progress = lambda v, p: progress_bar(v, p, stack_size, step_size, last_snippet)  # pylint: disable=unnecessary-lambda-assignment
  return extract_videos(listed, output, extractor, split, stack_size, step_size, last_snippet,
                        progress=progress)


# ---------------------------------------------------------------------------------------------
# The features of new videos for a trained run (`predict --video`, `visualize --video`).


def cache_root(output: str, video_features: Optional[str] = None) -> str:
  """Where `--video` caches its features (the per-video layout root, under which they are
  `features/test/rgb/<video>.npy`): `video_features`, else the folder of `output`."""
  return video_features or os.path.dirname(os.path.abspath(output))


def check_rgb_run(run: run_dir.Run, model_dir: str) -> None:
  """ValueError unless the run reads the RGB stream alone, of I3D's width: the only runs whose
  features this package makes from video files."""
  if list(run.streams) != ["rgb"] or run.info.rgb_dim != features_lib.FEATURE_DIM:
    raise ValueError(
        f"--video needs a run trained on the RGB stream only with {features_lib.FEATURE_DIM}-d "
        f"I3D features (train --streams=rgb); {model_dir} has streams {list(run.streams)} "
        f"and rgb_dim {run.info.rgb_dim}")


def snippet_frames(seconds_per_segment: float, model_dir: str) -> int:
  """The frames of one snippet (stack = step) at 25 fps of a run's time base; ValueError when it
  is not a whole number of frames."""
  frames = float(seconds_per_segment) * video_lib.FPS
  step = int(round(frames))
  if step < 1 or abs(frames - step) > 1e-3:
    raise ValueError(f"{model_dir}: seconds_per_segment {seconds_per_segment} is not a whole "
                     f"number of frames at {video_lib.FPS:g} fps")
  return step


def features_for_run(videos: str, model_dir: str, root: str,
                     i3d_checkpoint: Optional[str] = None, extractor: Optional[Extractor] = None,
                     show_progress: bool = True) -> str:
  """Extracts (or finds already extracted) the I3D RGB features of `videos` (a file or a folder)
  for the RGB-only run `model_dir`, with snippets of the run's length, under
  `root`/features/test/rgb; returns that folder.

  Raises:
    ValueError: the run is not RGB-only on 1024-d features (`check_rgb_run`), or its time base
      is not whole frames; VideoError naming every video that failed.
  """
  run = run_dir.read_run(model_dir)
  check_rgb_run(run, model_dir)
  step = snippet_frames(run.info.seconds_per_segment, model_dir)
  summary = extract_files(videos, root, "test", i3d_checkpoint, step, step, "drop",
                          extractor=extractor, show_progress=show_progress)
  if summary.failed:
    raise VideoError("; ".join(reason for _, reason in summary.failed))
  return feature_folder(root, "test")
