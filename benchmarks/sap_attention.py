r"""How many segments eq. 3's attention pools: SAP with the summed energy against its mean.

    python benchmarks/sap_attention.py --flagfile=benchmarks/regimes/thumos.flags --seeds=0 \
        --workdir=W

Reuses (or trains) the ASSG networks of the Table 1 rows "sap" (the paper's eq. 3, energy s =
the sum of ReLU(F) over its channels) and "sap_mean" (the mean) that `experiments.py` caches in
`--workdir`, runs each stream on the training videos without erasing, and prints the
distribution of the energy's spread over a video's segments (its standard deviation) and of
the effective number of segments the attention pools, 1 / sum_t A_t^2 (T for a uniform
attention, 1 for a single segment). docs/RESULTS.md section 1.4 uses it.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
from absl import logging

import experiments  # benchmarks/experiments.py: its flags, regimes and cache
from assg_tf import diagnostics, distribute
from assg_tf import flags as assg_flags

FLAGS = experiments.FLAGS
QUANTILES = (0.1, 0.5, 0.9)


def effective_segments(energy: np.ndarray) -> float:
  """1 / sum_t A_t^2 of eq. 3's A = softmax_t(energy) over one video's segments."""
  a = np.exp(energy - energy.max())
  a /= a.sum()
  return float(1.0 / np.sum(a ** 2))


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  runner, = experiments.runners_from_flags(distribute.create_strategy(),
                                           [int(FLAGS.seeds[0])])
  regime = FLAGS.regime or FLAGS.spec
  print(f"{regime}, seed {runner.seed}: eq. 3's attention on the training videos (quantiles "
        f"{', '.join(f'{q:g}' for q in QUANTILES)})")
  print("| pooling | stream | energy std over a video | effective segments | video length |")
  print("|---|---|---|---|---|")
  truth = diagnostics.training_truth(runner.spec)
  for pooling in ("sap", "sap_mean"):
    cfg, nets = runner.networks(experiments.Row(pooling, "assg", model={"pooling": pooling}))
    for stream in cfg.streams:
      spread, segments, lengths = [], [], []
      for example, _, _ in truth.values():
        out = nets[stream](tf.constant(example[stream][None]),
                           tf.ones([1, example["num_segments"]]))
        energy = nets[stream].energy(out["foreground"]).numpy()[0]
        spread.append(energy.std())
        segments.append(effective_segments(energy))
        lengths.append(len(energy))
      cells = [" / ".join(f"{x:.{d}f}" for x in np.quantile(v, QUANTILES))
               for v, d in ((spread, 2), (segments, 1), (lengths, 0))]
      print(f"| {pooling} | {stream} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
  assg_flags.run_command(main, assg_flags.define_flags)
