"""Throughput of the training input pipeline (assg_tf.input_pipeline.train_dataset).

THUMOS-sized synthetic data (the `synthetic_thumos` spec: the 200 THUMOS'14 validation videos,
256 channels per stream). Two sources:
- `tfds`: the real path of `assg_tf.train`: the `wtal/synthetic_thumos` tfds config is prepared
  into a temporary data dir first (not timed), then `load_split` + `train_dataset` are timed.
- `memory`: the same examples held in memory (`input_pipeline.from_examples`), which isolates
  shuffling, sampling, gathering and batching from reading and decoding tfds records.

Prints videos/s, batches/s, and MB/s of features: `in` = the full-length rgb + flow rows of the
videos consumed, `out` = the sampled [B, N, D] batches produced.

    python benchmarks/bench_input_pipeline.py [--source=tfds,memory] [--num_batches=200]
"""
from __future__ import annotations

import shutil
import tempfile
import time

from absl import app
from absl import flags
import numpy as np

from assg_tf import config as config_lib
from assg_tf import input_pipeline
from assg_tf import synthetic

_SOURCES = flags.DEFINE_list("source", ["tfds", "memory"], "tfds and/or memory.")
_SPEC = flags.DEFINE_string("spec", "synthetic_thumos", "Synthetic spec / wtal config.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 16, "Videos per batch.")
_NUM_SEGMENTS = flags.DEFINE_integer("num_segments", 400, "N sampled snippets per video.")
_NUM_BATCHES = flags.DEFINE_integer("num_batches", 200, "Timed batches per source.")
_WARMUP = flags.DEFINE_integer("warmup", 20, "Untimed batches first (fills the buffers).")
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


def main(argv):
  del argv
  spec = synthetic.SPECS[_SPEC.value]
  dim = 2 * spec.feature_dim
  print(f"spec {spec.name}: train split, batch {_BATCH_SIZE.value}, N {_NUM_SEGMENTS.value}, "
        f"D {dim}, {_NUM_BATCHES.value} timed batches after {_WARMUP.value}")
  for source in _SOURCES.value:
    temp_dir = None
    if source == "tfds":
      data_dir = _DATA_DIR.value or tempfile.mkdtemp(prefix="bench_input_pipeline_")
      temp_dir = None if _DATA_DIR.value else data_dir
      data_cfg = config_lib.DataConfig(dataset=spec.name, data_dir=data_dir)
      start = time.perf_counter()
      examples, info = input_pipeline.load_split(data_cfg, "train")
      print(f"  tfds prepare (untimed below): {time.perf_counter() - start:.1f} s, "
            f"{info.num_examples} train videos")
    elif source == "memory":
      cached = list(synthetic.generate_split(spec, "train"))
      examples = input_pipeline.from_examples(lambda: cached, spec.num_classes,
                                              spec.feature_dim, spec.feature_dim)
    else:
      raise ValueError(f"--source: unknown source {source!r}, expected tfds or memory")
    lengths = {v["video_id"]: int(v["num_segments"]) for v in examples.map(
        lambda e: {"video_id": e["video_id"], "num_segments": e["num_segments"]}
    ).as_numpy_iterator()}
    dataset = input_pipeline.train_dataset(examples, _NUM_SEGMENTS.value, _BATCH_SIZE.value,
                                           seed=0)
    videos_s, batches_s, mb_in, mb_out = _time(dataset, lengths, dim)
    mean_t = np.mean(list(lengths.values()))
    print(f"  {source:6s}: {videos_s:8.1f} videos/s  {batches_s:6.2f} batches/s  "
          f"{mb_in:8.1f} MB/s in (mean T {mean_t:.0f})  {mb_out:8.1f} MB/s out")
    if temp_dir:
      shutil.rmtree(temp_dir, ignore_errors=True)


if __name__ == "__main__":
  app.run(main)
