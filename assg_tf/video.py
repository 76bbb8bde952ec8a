"""Decoding a video into the frames and snippets I3D reads (docs/DESIGN.md; the preprocessing
of Carreira & Zisserman, CVPR 2017, section 3: RGB in [-1, 1], 224 x 224 crops).

Streamed with PyAV (FFmpeg's libraries; the optional extra `pip install -e ".[video]"`): frames
are decoded one by one and never held for the whole video.

- Frame rate: resampled to `fps` (25) by timestamp, as FFmpeg's `fps` filter does: the input
  frame shown at time t (seconds from the first frame) becomes output frames
  round(t * fps) .. round(t_next * fps) - 1, rounding halves up (a frame is repeated or dropped
  as needed); the last frame lasts one source frame period. `resampled_count` gives the number of output frames.
- Size: resized so that the short side is `short_side` (256; the long side rounded), by FFmpeg's
  swscale with bicubic interpolation (FFmpeg's `scale` default, which the published feature
  pipelines use), then centre-cropped to `crop` x `crop` (224; offsets (size - crop) // 2).
- Frames are uint8 RGB [crop, crop, 3]; the network scales them to [-1, 1] (`i3d.preprocess`).
- Snippets: `stack` consecutive frames every `step` frames (16 / 16: 0.64 s at 25 fps, the
  THUMOS'14 convention of the configs). The last incomplete stack, by `last`:
  `"drop"` (the default): left out, so every feature row covers exactly `step` frames of the
  video, [t * step / fps, (t + 1) * step / fps) seconds, which is what `seconds_per_segment`
  assumes (the per-video THUMOS'14 feature releases have floor(frames / 16) rows);
  `"wrap"`: when at least `MIN_WRAP_FRACTION` (20 %) of a stack remains, its frames are cycled
  from the start of the leftover frames to fill the stack (the rule of v-iashin/video_features,
  which made the published features this package is checked against).

A video that cannot be opened, has no video stream, no frames, or fewer frames than one snippet
raises `VideoError` naming the file.
"""
from __future__ import annotations

import itertools
import math
import os
from typing import Iterable, Iterator, Optional, Tuple

import numpy as np

FPS = 25.0
SHORT_SIDE = 256
CROP = 224
STACK = 16
STEP = 16
LAST_RULES = ("drop", "wrap")
MIN_WRAP_FRACTION = 0.2
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv",
                    ".wmv", ".3gp", ".ts")
INTERPOLATION = "BICUBIC"


class VideoError(ValueError):
  """A video cannot give snippets: unreadable, no frames, or shorter than one snippet."""


def import_av():
  """PyAV, or an ImportError saying how to install it."""
  try:
    import av  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ImportError("decoding videos needs PyAV: pip install -e \".[video]\" (or pip install "
                      "av)") from None
  return av


def resized_size(height: int, width: int, short_side: int = SHORT_SIDE) -> Tuple[int, int]:
  """(height, width) with the short side `short_side`, aspect kept (long side rounded)."""
  if min(height, width) <= 0:
    raise ValueError(f"frame of size {height}x{width}")
  if height <= width:
    return short_side, max(short_side, int(round(width * short_side / height)))
  return max(short_side, int(round(height * short_side / width))), short_side


def center_crop(frame: np.ndarray, crop: int = CROP) -> np.ndarray:
  """The centre `crop` x `crop` of an [H, W, C] frame (offsets (H - crop) // 2, (W - crop) // 2)."""
  h, w = frame.shape[:2]
  if h < crop or w < crop:
    raise ValueError(f"frame of size {h}x{w} is smaller than the {crop}x{crop} crop")
  top, left = (h - crop) // 2, (w - crop) // 2
  return frame[top:top + crop, left:left + crop]


def to_network_frame(frame, short_side: int = SHORT_SIDE, crop: int = CROP,
                     interpolation: str = INTERPOLATION) -> np.ndarray:
  """A PyAV VideoFrame -> uint8 RGB [crop, crop, 3]: resized (swscale) then centre-cropped."""
  height, width = resized_size(frame.height, frame.width, short_side)
  rgb = frame.reformat(width=width, height=height, format="rgb24",
                       interpolation=interpolation).to_ndarray()
  return np.ascontiguousarray(center_crop(rgb, crop))


def _round(x: float) -> int:
  """Rounds half away from zero (FFmpeg's AV_ROUND_NEAR_INF) for x >= 0."""
  return int(math.floor(x + 0.5))


def resample(times: Iterable[float], fps: float = FPS,
             last_duration: Optional[float] = None) -> Iterator[Tuple[int, int]]:
  """(index of an input frame, times it is repeated) for input frames at `times` (seconds,
  increasing), resampled to `fps` like FFmpeg's fps filter (see the module docstring).

  `last_duration`: how long the last frame lasts (default: the median gap seen, or 1 / fps).
  """
  previous, start, emitted, gaps = None, None, 0, []
  for index, t in enumerate(times):
    if start is None:
      start = t
    if previous is not None:
      gaps.append(t - previous[1])
      end = _round((t - start) * fps)
      if end > emitted:
        yield previous[0], end - emitted
        emitted = end
    previous = (index, t)
  if previous is None:
    return
  if last_duration is None:
    last_duration = float(np.median(gaps)) if gaps else 1.0 / fps
  end = max(_round((previous[1] + last_duration - start) * fps), 1)
  if end > emitted:
    yield previous[0], end - emitted


def resampled_count(num_frames: int, source_fps: float, fps: float = FPS) -> int:
  """Output frames of a constant-rate video of `num_frames` frames at `source_fps`."""
  times = (i / source_fps for i in range(num_frames))
  return sum(n for _, n in resample(times, fps, 1.0 / source_fps))


def read_frames(path: str, fps: float = FPS, short_side: int = SHORT_SIDE, crop: int = CROP,
                interpolation: str = INTERPOLATION) -> Iterator[np.ndarray]:
  """Streams the frames of a video file as uint8 RGB [crop, crop, 3] at `fps`.

  Raises:
    VideoError: the file cannot be opened or decoded, or has no video stream.
  """
  av = import_av()
  if not os.path.isfile(path):
    raise VideoError(f"missing video file: {path}")
  try:
    container = av.open(path)
  except (av.FFmpegError, OSError, ValueError) as e:
    raise VideoError(f"{path}: cannot open the video ({e})") from e
  with container:
    if not container.streams.video:
      raise VideoError(f"{path}: no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    last_duration = 1.0 / float(stream.average_rate) if stream.average_rate else None
    decoded = {}  # index -> decoded frame, from the last one shown to the newest
    counter = itertools.count()  # the index `resample` gives each timestamp

    def times():
      try:
        for frame in container.decode(stream):
          if frame.time is None:
            continue
          decoded[next(counter)] = frame
          yield float(frame.time)
      except (av.FFmpegError, ValueError) as e:
        raise VideoError(f"{path}: cannot decode the video ({e})") from e

    for index, repeat in resample(times(), fps, last_duration):
      out = to_network_frame(decoded[index], short_side, crop, interpolation)
      for older in [i for i in decoded if i <= index]:  # shown, or dropped by the resampling
        del decoded[older]
      for _ in range(repeat):
        yield out


def num_snippets(num_frames: int, stack: int = STACK, step: int = STEP,
                 last: str = "drop") -> int:
  """Snippets of a video of `num_frames` frames (see the module docstring)."""
  check_snippets(stack, step, last)
  full = 0 if num_frames < stack else (num_frames - stack) // step + 1
  leftover = max(0, num_frames - full * step)  # frames from where the next snippet would start
  if last == "wrap" and leftover >= MIN_WRAP_FRACTION * stack:
    full += 1
  return full


def check_snippets(stack: int, step: int, last: str) -> None:
  """ValueError unless `stack` and `step` are positive frame counts and `last` a LAST_RULES."""
  if stack < 1 or step < 1:
    raise ValueError(f"stack_size={stack}, step_size={step}: expected positive frame counts")
  if last not in LAST_RULES:
    raise ValueError(f"last_snippet={last!r}: expected one of {LAST_RULES}")


def snippets(frames: Iterable[np.ndarray], stack: int = STACK, step: int = STEP,
             last: str = "drop") -> Iterator[np.ndarray]:
  """Groups a stream of frames into snippets [stack, H, W, C] (see the module docstring);
  holds at most max(stack, step) frames."""
  check_snippets(stack, step, last)
  buffer = []  # frames from where the next snippet starts
  skip = 0  # frames still to drop before the next snippet starts (step > stack)
  for frame in frames:
    if skip:
      skip -= 1
      continue
    buffer.append(frame)
    if len(buffer) == stack:
      yield np.stack(buffer)
      if step >= stack:
        skip, buffer = step - stack, []
      else:
        buffer = buffer[step:]
  if last == "wrap" and buffer and len(buffer) >= MIN_WRAP_FRACTION * stack:
    cycled = [buffer[i % len(buffer)] for i in range(stack)]
    yield np.stack(cycled)


def list_videos(path: str) -> Tuple[Tuple[str, str], ...]:
  """((video id, file), ...) sorted: a video file, or the video files of a folder (by
  extension, `VIDEO_EXTENSIONS`); the id is the file name without its extension."""
  if os.path.isfile(path):
    files = [path]
  elif os.path.isdir(path):
    files = sorted(os.path.join(path, f) for f in os.listdir(path)
                   if f.lower().endswith(VIDEO_EXTENSIONS)
                   and os.path.isfile(os.path.join(path, f)))
    if not files:
      raise VideoError(f"{path}: no video files in the folder (expected one of "
                       f"{', '.join(VIDEO_EXTENSIONS)})")
  else:
    raise VideoError(f"--videos={path} is neither a video file nor a folder")
  ids = {}
  for f in files:
    video = os.path.splitext(os.path.basename(f))[0]
    if video in ids:
      raise VideoError(f"{ids[video]} and {f} would both write features {video}.npy; rename "
                       "one")
    ids[video] = f
  return tuple(sorted(ids.items()))


def duration_frames(path: str, fps: float = FPS) -> Optional[int]:
  """The container's estimate of the frames at `fps` (for progress bars), or None."""
  av = import_av()
  try:
    with av.open(path) as container:
      if container.duration:
        return int(math.ceil(container.duration / 1e6 * fps))
  except (av.FFmpegError, OSError, ValueError):
    pass
  return None
