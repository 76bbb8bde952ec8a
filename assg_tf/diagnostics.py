"""What seeds and growing do on synthetic videos, whose hidden structure is known (benchmarks).

Paper 3.2 claims that growing from CAS seeds mines the less discriminative frames of an action.
On synthetic videos (`synthetic.py`) every instance's discriminative core is known, so this
module measures it directly, on the training videos:
* seed quality (3.2.1): the share of foreground seeds inside a true instance of their class, of
  background seeds outside every instance, and of instance snippets that are seeds;
* growth (eq. 1): the share of instance snippets, core and non-core apart, that the trained
  SSG / ASSG network's grown labels mark as their class, and as background.
It also builds the in-memory splits the benchmark scripts train on (no tfds preparation).
"""
from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from assg_tf import growing, input_pipeline, synthetic
from assg_tf import seeds as seeds_lib


def in_memory_splits(spec: synthetic.SyntheticSpec):
  """(train, test, info) of a synthetic spec as cached in-memory datasets (no tfds)."""
  num_classes, dim = spec.num_classes, spec.feature_dim
  train = list(synthetic.generate_split(spec, "train"))
  test = list(synthetic.generate_split(spec, "test"))
  make = lambda videos: input_pipeline.from_examples(lambda: videos, num_classes, dim,
                                                     dim).cache()
  info = input_pipeline.DatasetInfo(tuple(synthetic.class_names(spec)), dim, dim, len(train))
  return make(train), make(test), info


def _truth(spec, split):
  """Per training video: instance label map [T, C] and core map [T, C] from the structure."""
  out = {}
  for layout in synthetic.video_layouts(spec, split):
    example, s = synthetic.generate_video(spec, layout)
    length, num_classes = example["num_segments"], spec.num_classes
    inside = np.zeros([length, num_classes], bool)
    core = np.zeros([length, num_classes], bool)
    for k, label in enumerate(layout.segment_labels):
      inside[s.instance_start[k]:s.instance_end[k], label] = True
      core[s.core_start[k]:s.core_end[k], label] = True
    out[layout.video_id] = (example, inside, core)
  return out


def seeds_and_growth(spec: synthetic.SyntheticSpec, cfg, nets, seeds_dir: str):
  """Seed quality and growth on the training videos of `spec`, per stream.

  `nets` maps "ssg" / "assg" to {stream: trained network}; the seeds are read from
  `seeds_dir/<stream>.npz`. Returns {stream: {fg_seed_precision, bg_seed_precision,
  instance_seeded, <variant>: {core_grown_fg, noncore_grown_fg, core_grown_bg,
  noncore_grown_bg}}}.
  """
  truth = _truth(spec, "train")
  dim = spec.feature_dim
  result = {}
  for stream, (lo, hi) in (("rgb", (0, dim)), ("flow", (dim, 2 * dim))):
    path = os.path.join(seeds_dir, f"{stream}.npz")
    if not os.path.exists(path):
      continue
    seeds = seeds_lib.load_seeds(path, spec.num_classes + 1)
    fg_in = fg_all = bg_out = bg_all = total = 0
    grown_stats = {v: np.zeros(4) for v in ("ssg", "assg") if v in nets}
    core_total = weak_total = 0
    for video, (example, inside, core) in truth.items():
      if video not in seeds:  # seeds cover the videos trained on (validation ones held out)
        continue
      dense = np.zeros([len(inside), spec.num_classes + 1])
      coords = seeds[video]
      dense[coords[:, 0], coords[:, 1]] = 1
      fg, bg = dense[:, 1:] > 0, dense[:, 0] > 0
      fg_in += (fg & inside).sum()
      fg_all += fg.sum()
      any_inside = inside.any(1)
      bg_out += (bg & ~any_inside).sum()
      bg_all += bg.sum()
      total += inside.sum()
      weak = inside & ~core
      core_total += core.sum()
      weak_total += weak.sum()
      x = np.concatenate([example["rgb"], example["flow"]], -1)[None, :, lo:hi]
      for variant in grown_stats:
        net, labels = nets[variant][stream], tf.constant(example["labels"][None])
        out = net(tf.constant(x), tf.ones([1, len(inside)]))
        grown = growing.grow(net.training_heatmaps(out, labels),
                             tf.constant(dense[None], tf.float32),
                             tf.ones([1, len(inside)]), labels,
                             tf.constant(cfg.model.growing_threshold_fg),
                             tf.constant(cfg.model.growing_threshold_bg)).numpy()[0]
        g_fg, g_bg = grown[:, 1:] > 0, grown[:, :1] > 0
        grown_stats[variant] += [(g_fg & core).sum(), (g_fg & weak).sum(),
                                 (g_bg & core).sum(), (g_bg & weak).sum()]
    entry = {
        "fg_seed_precision": float(fg_in / max(fg_all, 1)),
        "bg_seed_precision": float(bg_out / max(bg_all, 1)),
        # Seeds inside an instance of their class are the instance snippets that are seeds.
        "instance_seeded": float(fg_in / max(total, 1)),
    }
    for variant, (fc, fw, bc, bw) in grown_stats.items():
      entry[variant] = {"core_grown_fg": fc / max(core_total, 1),
                        "noncore_grown_fg": fw / max(weak_total, 1),
                        "core_grown_bg": bc / max(core_total, 1),
                        "noncore_grown_bg": bw / max(weak_total, 1)}
    result[stream] = entry
  return result
