r"""What the CAS seed network's probabilities say about the weak parts of actions.

    python benchmarks/seed_statistics.py --flagfile=benchmarks/regimes/thumos.flags --seeds=0 \
        --workdir=W

Reuses (or trains) the CAS networks of the default method that `experiments.py` caches in
`--workdir`, runs them on the training videos, whose hidden structure is known
(`synthetic.py`), and prints per stream:
* the quantiles of the labelled-class probability (the map background seeds are thresholded
  on, `seeds.probability_background_seeds`) on instance cores, on the other (weak) instance
  snippets and outside every instance, and the share of each below 0.1 (the threshold);
* for background seeds by the 0.1 threshold alone, by the threshold and the video's
  absent-class level (`seeds.absent_class_level`, quantile 0.9), each with a stream's own seeds
  and with both streams' seeds joined (`seeds.join_dense`): their precision (outside every
  instance), their coverage of the true background, and the share of the weak instance
  snippets they take.
docs/RESULTS.md section 1.4 uses it to show why the background seed rule changed.
"""
from __future__ import annotations

import collections
import dataclasses

import numpy as np
import tensorflow as tf
from absl import logging

import experiments  # benchmarks/experiments.py: its flags, regimes and cache
from assg_tf import cas, diagnostics, distribute
from assg_tf import flags as assg_flags
from assg_tf import seeds as seeds_lib

FLAGS = experiments.FLAGS
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  runner, = experiments.runners_from_flags(distribute.create_strategy(),
                                           [int(FLAGS.seeds[0])])
  cfg, nets = runner.provider(experiments.Row("CAS", "cas"))
  rules = {"threshold alone": dataclasses.replace(cfg.cas, bg_seed_null_quantile=1.0),
           "absent-class level 0.9": dataclasses.replace(cfg.cas, bg_seed_null_quantile=0.9)}
  values = collections.defaultdict(list)  # (stream, region) -> labelled-class probabilities
  counts = collections.Counter()  # (rule, joined, stream, what) -> snippets
  for _, (example, inside, core) in diagnostics.training_truth(runner.spec).items():
    length = len(inside)
    mask, labels = tf.ones([1, length]), tf.constant(example["labels"][None])
    outside, weak = ~inside.any(1), (inside & ~core).any(1) & ~core.any(1)
    own = {name: {} for name in rules}
    for stream in cfg.streams:
      x = tf.constant(example[stream][None])
      out = nets[stream](x, mask, training=False)
      prob = cas.localization_map(out, mask, cfg.cas.maps).numpy()[0]
      labelled = (prob * example["labels"][None]).max(-1)
      for region, where in (("core", core.any(1)), ("weak", weak), ("outside", outside)):
        values[stream, region].append(labelled[where])
      for name, rule in rules.items():
        own[name][stream] = seeds_lib.initial_seeds(x, out, mask, labels, rule).numpy()[0]
    for name in rules:
      joined = seeds_lib.join_dense(np.stack([own[name][s] for s in cfg.streams]))
      for stream in cfg.streams:
        for how, dense in (("own", own[name][stream]), ("joined", joined)):
          bg = dense[:, 0] > 0.5
          counts.update({(name, how, stream, "bg"): bg.sum(),
                         (name, how, stream, "bg_outside"): (bg & outside).sum(),
                         (name, how, stream, "bg_weak"): (bg & weak).sum(),
                         (name, how, stream, "outside"): outside.sum(),
                         (name, how, stream, "weak"): weak.sum()})
  regime = FLAGS.regime or FLAGS.spec
  print(f"{regime}, seed {runner.seed}: labelled-class probability of the CAS network on the "
        "training videos")
  print("| stream | snippets | " + " | ".join(f"q{q:g}" for q in QUANTILES) + " | < 0.1 |")
  print("|---|---|" + "---|" * (len(QUANTILES) + 1))
  for (stream, region), parts in values.items():
    v = np.concatenate(parts)
    print(f"| {stream} | {region} ({len(v)}) | "
          + " | ".join(f"{x:.3f}" for x in np.quantile(v, QUANTILES))
          + f" | {100 * np.mean(v < 0.1):.0f} % |")
  print(f"\n{regime}, seed {runner.seed}: background seeds, % (precision / coverage of the "
        "background / share of the weak instance snippets)")
  print("| rule | seeds | " + " | ".join(cfg.streams) + " |")
  print("|---|---|" + "---|" * len(cfg.streams))
  for name in rules:
    for how in ("own", "joined"):
      cells = []
      for stream in cfg.streams:
        c = lambda what: counts[name, how, stream, what]
        cells.append(f"{100 * c('bg_outside') / max(c('bg'), 1):.0f} / "
                     f"{100 * c('bg_outside') / max(c('outside'), 1):.0f} / "
                     f"{100 * c('bg_weak') / max(c('weak'), 1):.0f}")
      print(f"| {name} | {how} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
  assg_flags.run_command(main, assg_flags.define_flags)
