r"""How real do the synthetic features look? Their statistics beside a real video's I3D features.

    python benchmarks/realism.py [--videos=30] [--feature_dim=64]

Prints, per synthetic spec and stream, the mean over `--videos` training videos of
`synthetic.realism_statistics` (consecutive-snippet cosine, cosine of any two snippets, per-
channel lag-1 autocorrelation, share of zeros, channel mean and within-video spread), at the
real sample's 2.56 s stride (every 4th 0.64 s snippet) and at the native 0.64 s stride, and the
same statistics of the real sample shipped in `assg_tf/data/real_i3d` (14 snippets at 2.56 s;
its lag-1 autocorrelation, from 14 values, is biased low). The synthetic data is judged by these
figures, never by how well a method does on it.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np
from absl import app, flags

from assg_tf import synthetic

flags.DEFINE_integer("videos", 30, "Training videos per spec.")
flags.DEFINE_integer("feature_dim", 64, "Feature width (the benchmark regimes use 64).")
FLAGS = flags.FLAGS

REAL = os.path.join(os.path.dirname(synthetic.__file__), "data", "real_i3d")
KEYS = ("consecutive_cosine", "any_cosine", "lag1_autocorrelation", "zero_fraction",
        "channel_mean", "channel_std")


def _row(name, stats):
  return f"| {name} | " + " | ".join(f"{stats[k]:.3f}" for k in KEYS) + " |"


def main(argv):
  del argv
  print("| features | " + " | ".join(KEYS) + " |")
  print("|---" * (len(KEYS) + 1) + "|")
  for stream in synthetic.STREAMS:
    real = synthetic.realism_statistics(
        np.load(os.path.join(REAL, f"women_long_jump_{stream}.npy")))
    print(_row(f"real I3D sample, {stream}, 2.56 s", real))
  for name in ("synthetic", "synthetic_thumos", "synthetic_anet"):
    spec = dataclasses.replace(synthetic.SPECS[name], feature_dim=FLAGS.feature_dim)
    videos = [synthetic.generate_video(spec, layout)[0]
              for layout in synthetic.video_layouts(spec, "train")[:FLAGS.videos]]
    for stream in synthetic.STREAMS:
      for stride, label in ((4, "2.56 s"), (1, "0.64 s")):
        stats = [synthetic.realism_statistics(v[stream], stride) for v in videos
                 if v["num_segments"] // stride >= 3]
        mean = {k: float(np.mean([s[k] for s in stats])) for k in KEYS}
        print(_row(f"{name}, {stream}, {label}", mean))


if __name__ == "__main__":
  app.run(main)
