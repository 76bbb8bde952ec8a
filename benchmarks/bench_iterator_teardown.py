r"""How long deleting a training-data iterator takes, as `training.run_stage` does at a stage's end.

    python benchmarks/bench_iterator_teardown.py [--seconds=6,9,...,36]

For each duration, makes the training batches of a small in-memory synthetic split, takes
batches from them for that many seconds (one every 50 ms, as a training loop would), deletes
the iterator and prints how long the deletion took. Two pipelines:
* `ours`: what `run_stage` iterates: `input_pipeline.train_dataset` (tf.data autotuning off) as
  `distribute.distribute_dataset` hands it to a one-replica MirroredStrategy (the dataset
  itself);
* `tf_default`: the same batches with tf.data's default autotuning, wrapped by
  `strategy.experimental_distribute_dataset` (what the package did until 1 December 2026).
With autotuning, the deletion waits for the optimisation thread's next wake-up (those come at
about 0.01, 0.03, 0.07, ... 20.5, 41 s and every 60 s after), so some durations stall for
seconds and others not (docs/RESULTS.md §3.1).
"""
from __future__ import annotations

import gc
import time

from absl import app
from absl import flags
import tensorflow as tf

from assg_tf import distribute
from assg_tf import input_pipeline
from assg_tf import synthetic

_SECONDS = flags.DEFINE_list("seconds", [str(s) for s in range(6, 37, 3)],
                             "How long to take batches before deleting the iterator.")
_PIPELINES = flags.DEFINE_list("pipelines", ["ours", "tf_default"], "ours and/or tf_default.")


def _make(pipeline, strategy, examples):
  dataset = input_pipeline.train_dataset(examples, 32, 4, seed=0)
  if pipeline == "ours":
    return distribute.distribute_dataset(strategy, dataset)
  options = tf.data.Options()
  options.autotune.enabled = True
  return strategy.experimental_distribute_dataset(dataset.with_options(options))


def main(argv):
  del argv
  spec = synthetic.SPECS["synthetic"]
  videos = list(synthetic.generate_split(spec, "train"))[:16]
  examples = input_pipeline.from_examples(lambda: videos, spec.num_classes, spec.feature_dim,
                                          spec.feature_dim)
  strategy = tf.distribute.MirroredStrategy()
  for pipeline in _PIPELINES.value:
    if pipeline not in ("ours", "tf_default"):
      raise ValueError(f"--pipelines={pipeline!r}: expected ours or tf_default")
    cells = []
    for seconds in (float(s) for s in _SECONDS.value):
      iterator = iter(_make(pipeline, strategy, examples))
      start = time.perf_counter()
      while time.perf_counter() - start < seconds:
        next(iterator)
        time.sleep(0.05)
      start = time.perf_counter()
      del iterator
      gc.collect()
      cells.append(f"{seconds:g} s: {time.perf_counter() - start:.1f}")
    print(f"{pipeline:10s} deletion after " + ", ".join(cells) + " (seconds)", flush=True)


if __name__ == "__main__":
  app.run(main)
