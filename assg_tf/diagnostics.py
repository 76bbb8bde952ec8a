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

import collections
import dataclasses
import os

import numpy as np
import tensorflow as tf

from assg_tf import config as config_lib
from assg_tf import growing, input_pipeline, run_dir, synthetic
from assg_tf import seeds as seeds_lib


def in_memory_splits(spec: synthetic.SyntheticSpec):
  """(train, validation, test, info) of a synthetic spec as cached in-memory datasets, split
  as the tfds builder splits them (validation = the held-out training videos of
  `in_validation`), without tfds preparation."""
  from assg_tf.datasets.wtal.wtal_dataset_builder import in_validation  # pylint: disable=g-import-not-at-top
  num_classes, dim = spec.num_classes, spec.feature_dim
  videos = list(synthetic.generate_split(spec, "train"))
  train = [v for v in videos if not in_validation(v["video_id"])]
  validation = [v for v in videos if in_validation(v["video_id"])]
  test = list(synthetic.generate_split(spec, "test"))
  make = lambda examples: input_pipeline.from_examples(lambda: examples, num_classes, dim,
                                                       dim).cache()
  info = config_lib.DatasetInfo(tuple(synthetic.class_names(spec)), dim, dim, len(train))
  train = make(train)
  info = dataclasses.replace(info, seconds_per_segment=input_pipeline.seconds_per_segment(train))
  return train, make(validation), make(test), info


def training_truth(spec, split="train"):
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


def seeds_and_growth(spec: synthetic.SyntheticSpec, cfg, nets, model_dir: str):
  """Seed quality, growth and erasing on the training videos of `spec`, per stream.

  `nets` maps "ssg" / "assg" to {stream: trained network}; the seeds are read from the run
  directory `model_dir` (`run_dir.seeds_path`). Returns {stream: {seeds..., <variant>: {growth and erasing...}}}:
  * `fg_seed_precision` (share of foreground seeds inside an instance of their class),
    `instance_seeded` (share of instance snippets that are seeds of their class: coverage),
    `bg_seed_precision` (share of background seeds outside every instance),
    `bg_seed_coverage` (share of the snippets outside every instance that are seeds);
  * per variant, the grown labels (eq. 1) of the trained network: `core_grown_fg`,
    `noncore_grown_fg` (share of core / non-core instance snippets grown as their class),
    `core_grown_bg`, `noncore_grown_bg` (as background), `grown_fg_precision`,
    `grown_bg_precision`; `erased_core`, `erased_noncore` (share erased for their class, H >
    theta_a), `erased_outside` (share of the other snippets of a labelled class erased for it),
    and `noncore_heat` (mean H of the non-core snippets for their class).
  """
  truth = training_truth(spec)
  channels = spec.num_classes + 1  # background + the classes
  result = {}
  for stream in config_lib.STREAMS:
    path = run_dir.seeds_path(model_dir, stream)
    if not os.path.exists(path):
      continue
    seeds = seeds_lib.load_seeds(path, channels)
    n = collections.Counter()  # sums of the counts every ratio below is made of
    per_variant = {v: collections.Counter() for v in ("ssg", "assg") if v in nets}
    for video, (example, inside, core) in truth.items():
      if video not in seeds:  # seeds cover the videos trained on (validation ones held out)
        continue
      length = len(inside)
      dense = seeds_lib.to_dense(seeds[video], length, channels)
      fg, bg = dense[:, 1:] > 0, dense[:, 0] > 0
      outside = ~inside.any(1)
      weak = inside & ~core
      labelled = example["labels"] > 0.5  # [C]
      n.update(fg_in=(fg & inside).sum(), fg_all=fg.sum(), bg_out=(bg & outside).sum(),
               bg_all=bg.sum(), instance=inside.sum(), outside=outside.sum(),
               core=core.sum(), weak=weak.sum(),
               other=(~inside & labelled[None, :]).sum())
      x = np.asarray(example[stream])[None]
      for variant, m in per_variant.items():
        net, labels = nets[variant][stream], tf.constant(example["labels"][None])
        out = net(tf.constant(x), tf.ones([1, length]))
        heat = net.training_heatmaps(out, labels)
        grown = growing.grow(heat, tf.constant(dense[None]), tf.ones([1, length]),
                             labels, tf.constant(cfg.model.growing_threshold_fg),
                             tf.constant(cfg.model.growing_threshold_bg)).numpy()[0]
        heat = heat.numpy()[0, :, 1:]
        g_fg, g_bg = grown[:, 1:] > 0, grown[:, 0] > 0
        erased = (heat > cfg.model.erasing_threshold) & labelled[None, :]
        m.update(core_fg=(g_fg & core).sum(), weak_fg=(g_fg & weak).sum(),
                 core_bg=(g_bg[:, None] & core).sum(), weak_bg=(g_bg[:, None] & weak).sum(),
                 fg_in=(g_fg & inside).sum(), fg_all=g_fg.sum(),
                 bg_out=(g_bg & outside).sum(), bg_all=g_bg.sum(),
                 erased_core=(erased & core).sum(), erased_weak=(erased & weak).sum(),
                 erased_other=(erased & ~inside).sum(), weak_heat=heat[weak].sum())
    ratio = lambda a, b: float(a / max(b, 1))
    entry = {
        "fg_seed_precision": ratio(n["fg_in"], n["fg_all"]),
        "bg_seed_precision": ratio(n["bg_out"], n["bg_all"]),
        # Seeds inside an instance of their class are the instance snippets that are seeds.
        "instance_seeded": ratio(n["fg_in"], n["instance"]),
        "bg_seed_coverage": ratio(n["bg_out"], n["outside"]),
    }
    for variant, m in per_variant.items():
      entry[variant] = {
          "core_grown_fg": ratio(m["core_fg"], n["core"]),
          "noncore_grown_fg": ratio(m["weak_fg"], n["weak"]),
          "core_grown_bg": ratio(m["core_bg"], n["core"]),
          "noncore_grown_bg": ratio(m["weak_bg"], n["weak"]),
          "grown_fg_precision": ratio(m["fg_in"], m["fg_all"]),
          "grown_bg_precision": ratio(m["bg_out"], m["bg_all"]),
          "erased_core": ratio(m["erased_core"], n["core"]),
          "erased_noncore": ratio(m["erased_weak"], n["weak"]),
          "erased_outside": ratio(m["erased_other"], n["other"]),
          "noncore_heat": ratio(m["weak_heat"], n["weak"]),
      }
    result[stream] = entry
  return result
