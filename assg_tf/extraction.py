"""I3D features of video files, in the per-video layout `train` and `predict` read (SPEC section
2; docs/DESIGN.md): `OUT/features/<split>/rgb/<video>.npy`, float32 [T, 1024].

The pipeline (Carreira & Zisserman, CVPR 2017, RGB stream; `assg_tf.video` for the decoding
rules): frames are decoded in a stream (`video.read_frames`), grouped into snippets
(`video.snippets`) and run through the network `batch_size` snippets at a time by one
`tf.function` whose input signature is uint8 [None, None, H, W, 3], so it is traced once for
every video and snippet length. Decoding runs in a background thread, one batch ahead of the
network (both release the GIL), so a video costs about max(decode, network), not the sum.

`extract_videos` is resumable: a video whose .npy exists is skipped (files are written
atomically, so an existing file is complete), and a video that fails (unreadable, no frames,
shorter than one snippet) is reported with its reason while the others are still done.

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

from assg_tf import synthetic
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


def feature_path(output_dir: str, split: str, video: str) -> str:
  """`output_dir/features/<split>/rgb/<video>.npy`."""
  return os.path.join(output_dir, "features", split, STREAM, video + ".npy")


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
    synthetic._save_npy(out, feats)  # pylint: disable=protected-access  (atomic write)
    summary.done.append(video)
  return summary
