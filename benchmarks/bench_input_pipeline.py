"""Throughput of the training input pipeline (assg_tf.input_pipeline.train_dataset).

THUMOS-sized synthetic data (the `synthetic_thumos` spec: the THUMOS'14 validation videos less
the held-out ones, 256 channels per stream). Sources:
- `tfds`: the real path of `assg_tf.train`: the `wtal/synthetic_thumos` tfds config is prepared
  into a temporary data dir first (not timed), then `load_split` + `train_dataset` are timed.
- `tfds_cache`: the same with the decoded examples cached in memory (`.cache()`, filled during
  the warm-up), which isolates shuffling, sampling, gathering and batching from reading and
  decoding the records.
- `generator`: examples held in Python (`input_pipeline.from_examples`, tf.data's
  `from_generator`), the path of tests and of in-memory data.

Prints videos/s, batches/s, and MB/s of features: `in` = the full-length rgb + flow rows of the
videos consumed, `out` = the sampled [B, N, D] batches produced.

    python benchmarks/bench_input_pipeline.py [--source=tfds,tfds_cache,generator]
"""
from __future__ import annotations

import shutil
import tempfile
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np
import tensorflow_datasets as tfds

from assg_tf import config as config_lib
from assg_tf import input_pipeline
from assg_tf import synthetic

_SOURCES = flags.DEFINE_list("source", ["tfds", "tfds_cache", "generator"],
                             "Any of tfds, tfds_cache, generator.")
_SPEC = flags.DEFINE_string("spec", "synthetic_thumos", "Synthetic spec / wtal config.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 16, "Videos per batch.")
_NUM_SEGMENTS = flags.DEFINE_integer("num_segments", 400, "N sampled snippets per video.")
_NUM_BATCHES = flags.DEFINE_integer("num_batches", 200, "Timed batches per source.")
_WARMUP = flags.DEFINE_integer("warmup", 30, "Untimed batches first (fills the buffers and, "
                                "for tfds_cache, the cache: > one epoch).")
_DATA_DIR = flags.DEFINE_string("data_dir", None,
                                "Prepared tfds data dir to reuse; default: a temporary one.")


def _time(dataset, lengths, dim):
  """Iterates the dataset; returns (videos/s, batches/s, MB/s in, MB/s out)."""
  iterator = iter(dataset)
  for _ in range(_WARMUP.value):
    next(iterator)
  rows_in = 0
  start = time.perf_counter()
  for _ in range(_NUM_BATCHES.value):
    batch = next(iterator)
    rows_in += sum(lengths[v] for v in batch["video_id"].numpy())
  elapsed = time.perf_counter() - start
  videos = _NUM_BATCHES.value * _BATCH_SIZE.value
  bytes_out = videos * _NUM_SEGMENTS.value * dim * 4
  return (videos / elapsed, _NUM_BATCHES.value / elapsed, rows_in * dim * 4 / elapsed / 1e6,
          bytes_out / elapsed / 1e6)


def _report(source, examples, dim):
  """Times train_dataset over `examples` and prints one line."""
  lengths = {v["video_id"]: int(v["num_segments"]) for v in examples.map(
      lambda e: {"video_id": e["video_id"], "num_segments": e["num_segments"]}
  ).as_numpy_iterator()}
  dataset = input_pipeline.train_dataset(examples, _NUM_SEGMENTS.value, _BATCH_SIZE.value,
                                         seed=0)
  videos_s, batches_s, mb_in, mb_out = _time(dataset, lengths, dim)
  mean_t = np.mean(list(lengths.values()))
  print(f"  {source:10s}: {videos_s:7.1f} videos/s  {batches_s:6.2f} batches/s  "
        f"{mb_in:7.1f} MB/s in (mean T {mean_t:.0f})  {mb_out:7.1f} MB/s out")


def main(argv):
  del argv
  tfds.disable_progress_bar()
  logging.set_verbosity(logging.WARNING)
  spec = synthetic.SPECS[_SPEC.value]
  dim = 2 * spec.feature_dim
  print(f"spec {spec.name}: train split, batch {_BATCH_SIZE.value}, N {_NUM_SEGMENTS.value}, "
        f"D {dim}, {_NUM_BATCHES.value} timed batches after {_WARMUP.value}")
  data_dir = _DATA_DIR.value or tempfile.mkdtemp(prefix="bench_input_pipeline_")
  data_cfg = config_lib.DataConfig(dataset=spec.name, data_dir=data_dir)
  try:
    for source in _SOURCES.value:
      if source in ("tfds", "tfds_cache"):
        start = time.perf_counter()
        examples, info = input_pipeline.load_split(data_cfg, "train")
        print(f"  tfds load_split (prepares once, untimed below): "
              f"{time.perf_counter() - start:.1f} s, {info.num_examples} train videos")
        if source == "tfds_cache":
          examples = examples.cache()
      elif source == "generator":
        cached = list(synthetic.generate_split(spec, "train"))
        examples = input_pipeline.from_examples(lambda: cached, spec.num_classes,
                                                spec.feature_dim, spec.feature_dim)
      else:
        raise ValueError(f"--source: unknown source {source!r}, expected tfds, tfds_cache or "
                         "generator")
      _report(source, examples, dim)
  finally:
    if not _DATA_DIR.value:
      shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
  app.run(main)
