r"""Speed of I3D feature extraction on CPU: decoding and the network apart, then together.

    python benchmarks/bench_extract_features.py [--video=PATH] [--seconds=60] \
        [--i3d_checkpoint=PATH] [--batch_size=4]

The clip: `--video` looped to `--seconds` (re-encoded with H.264 when the PyAV build has it,
else MPEG-4 part 2, at the source's size and rate), or, without `--video`, a synthetic
640 x 360, 25 fps clip of moving gradients. Prints, for 16-frame snippets with stride 16:

- decode: `video.read_frames` alone (decode, resample to 25 fps, resize, crop): frames/s and
  the seconds for the clip;
- network: the full I3D with the Kinetics-400 weights on batches of those frames: snippets/s
  and the seconds for the clip;
- end to end: `extraction.extract_video` (decoding in a thread, one batch ahead of the
  network): seconds, snippets/s and the real-time factor (clip seconds / processing seconds;
  > 1 is faster than real time); decoding's share of decode + network.

TensorFlow uses every core it sees (2 on the machine of docs/RESULTS.md); oneDNN is turned on
(TF_ENABLE_ONEDNN_OPTS=1) unless the environment says otherwise, as `extract_features` does.
`uptime`'s load is printed first: the figures are only comparable on an idle machine.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from absl import app  # pylint: disable=g-import-not-at-top,wrong-import-position
from absl import flags  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from assg_tf import extraction  # pylint: disable=g-import-not-at-top,wrong-import-position
from assg_tf import i3d  # pylint: disable=g-import-not-at-top,wrong-import-position
from assg_tf import video as video_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

flags.DEFINE_string("video", None, "A video to loop to --seconds (default: synthetic).")
flags.DEFINE_float("seconds", 60.0, "Clip length in seconds.")
flags.DEFINE_string("i3d_checkpoint", None, "The Kinetics-400 checkpoint (default: searched).")
flags.DEFINE_integer("batch_size", 4, "Snippets per forward pass.")
flags.DEFINE_float("width_multiplier", 1.0, "1.0: the real I3D with the Kinetics-400 weights; "
                   "smaller: a randomly initialised narrower I3D (smoke runs, no weights).")
FLAGS = flags.FLAGS
STACK = STEP = 16


def make_clip(path: str, source, seconds: float) -> str:
  """Writes the benchmark clip to `path` (see the module docstring)."""
  av = video_lib.import_av()
  codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
  if source:
    with av.open(source) as container:
      stream = container.streams.video[0]
      rate = stream.average_rate
      frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
  else:
    rate, frames = 25, None
  count = int(round(seconds * float(rate)))
  height, width = frames[0].shape[:2] if frames else (360, 640)
  with av.open(path, "w") as out:
    stream = out.add_stream(codec, rate=rate)
    stream.height, stream.width, stream.pix_fmt = height, width, "yuv420p"
    yy, xx = np.mgrid[0:height, 0:width]
    for i in range(count):
      if frames:
        image = frames[i % len(frames)]
      else:
        phase = 2 * np.pi * i / 50
        image = np.stack([(xx + 3 * i) % 256, (yy + 2 * i) % 256,
                          128 + 100 * np.sin(phase + xx / 40.0)], -1).astype(np.uint8)
      for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
        out.mux(packet)
    for packet in stream.encode():
      out.mux(packet)
  print(f"clip: {count} frames at {float(rate):.3f} fps ({seconds:g} s), {width}x{height}, "
        f"{codec}" + (f", looped from {source}" if source else ", synthetic"))
  return path


def main(argv):
  del argv
  print(f"load: {os.getloadavg()} on {os.cpu_count()} cores")
  with tempfile.TemporaryDirectory() as tmp:
    clip = make_clip(os.path.join(tmp, "clip.mp4"), FLAGS.video, FLAGS.seconds)

    start = time.perf_counter()
    frames = list(video_lib.read_frames(clip))
    decode = time.perf_counter() - start
    seconds = len(frames) / video_lib.FPS
    print(f"decode: {len(frames)} frames at 25 fps in {decode:.2f} s "
          f"({len(frames) / decode:.0f} frames/s)")

    if FLAGS.width_multiplier == 1.0:
      model = i3d.load_kinetics_weights(i3d.build_i3d(),
                                        i3d.find_checkpoint(FLAGS.i3d_checkpoint))
    else:
      model = i3d.build_i3d(FLAGS.width_multiplier)
    extractor = extraction.Extractor(model, FLAGS.batch_size)
    snippets = list(video_lib.snippets(iter(frames), STACK, STEP))
    extractor(np.stack(snippets[:FLAGS.batch_size]))  # trace once, warm up
    start = time.perf_counter()
    feats = extractor.features(iter(snippets))
    network = time.perf_counter() - start
    print(f"network: {len(feats)} snippets of {STACK} frames in {network:.1f} s "
          f"({len(feats) / network:.2f} snippets/s, batch {FLAGS.batch_size})")
    print(f"decode share of decode + network: {100 * decode / (decode + network):.1f} %")
    del frames, snippets

    start = time.perf_counter()
    feats = extraction.extract_video(clip, extractor, STACK, STEP)
    total = time.perf_counter() - start
    print(f"end to end: {len(feats)} snippets in {total:.1f} s ({len(feats) / total:.2f} "
          f"snippets/s); real-time factor {seconds / total:.2f} ({seconds:.1f} s of video)")
  print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
  sys.stdout.reconfigure(line_buffering=True)
  app.run(main)
