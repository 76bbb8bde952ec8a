r"""Speed of one ASSG training step against the bare network, and of seed growing alone.

    python benchmarks/bench_training.py [--batch=16] [--length=400] [--dim=1024] [--classes=20]

Prints, for one stream with the THUMOS'14 shapes of the paper (batch 16 x 400 segments x 1024
features, 512 filters, 20 classes) and random data:
* the ASSG step (grow -> L_seed update -> L_class update, Algorithm 1) as run by
  `training.run_stage` (one replica, MirroredStrategy, tf.function);
* two bare forward+backward passes of the same layers (backbone, opposite ReLUs, heatmap head)
  with a plain cross-entropy and an Adam update each: the floor of any two-update step;
* the growing step alone (`growing.grow`) on the same batch;
* the CAS seed network's training step on the same batch (for whole-run estimates);
* each step against its FLOP count at this machine's float32 matmul rate, measured in the same
  run on a matmul of the backbone's shape: the time the step would take if it ran only its
  matrix products at that rate (forward + backward = 3 forward passes of FLOPs for every
  layer but the first, whose input gradient nobody asks for: 2, its forward and its weight
  gradient; TensorFlow prunes the unused input gradient);
and how the step time and the peak memory grow with T (--lengths).
With --loop_steps=K, also the training loop itself: `stages.train_cas` and `stages.train_assg`
(`training.run_stage`: the input pipeline, the step, the metrics) for K steps on in-memory
random videos of twice the batch's length (a dataset of tensors, read by tf.data's own threads
as a tfds reader is), their per-step time after the first taken from the
stage's closing log line, each between two timings of its benchmarked step: the loop against
the step without the machine's speed drifting in between (docs/RESULTS.md §3.1).
The networks are the defaults (`config.Config()`: kernel-3 convolutions, split head), with
the classifier's pooling set by --pooling.
All in the same process, medians over --repeats calls after a warm-up.
"""
from __future__ import annotations

import dataclasses
import logging
import re
import resource
import statistics
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags

from assg_tf import config as config_lib
from assg_tf import growing
from assg_tf import input_pipeline
from assg_tf import model as model_lib
from assg_tf import stages
from assg_tf import training

flags.DEFINE_integer("batch", 16, "Videos per batch.")
flags.DEFINE_integer("length", 400, "Segments per video (N).")
flags.DEFINE_integer("dim", 1024, "Feature width of one stream.")
flags.DEFINE_integer("classes", 20, "Action classes.")
flags.DEFINE_integer("repeats", 20, "Timed calls.")
flags.DEFINE_list("lengths", ["400", "4000", "40000"], "T values for the scaling table "
                  "(batch 1).")
flags.DEFINE_enum("pooling", config_lib.ModelConfig.pooling, config_lib.POOLINGS,
                  "The classifier's pooling in the ASSG step (default: the package's).")
flags.DEFINE_integer("loop_steps", 0, "Steps of the training loop to time against the "
                     "benchmarked steps (0: skip).")
FLAGS = flags.FLAGS


def _median_seconds(fn, repeats):
  fn()  # warm-up (tracing)
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  return statistics.median(times)


def _batch(batch, length, dim, classes, rng):
  labels = np.zeros([batch, classes], np.float32)
  labels[np.arange(batch), rng.integers(0, classes, batch)] = 1
  seeds = (rng.random([batch, length, classes + 1]) < 0.05).astype(np.float32)
  return {"features": tf.constant(rng.normal(size=[batch, length, dim]).astype(np.float32)),
          "mask": tf.ones([batch, length]), "labels": tf.constant(labels),
          "seeds": tf.constant(seeds * np.concatenate([np.ones([batch, 1, 1], np.float32),
                                                       labels[:, None, :]], -1), tf.float32)}


def _traced(strategy, replica_step, batch):
  """A no-argument callable running `replica_step` on `batch` under the strategy, traced."""

  @tf.function
  def step(b):
    return strategy.run(replica_step, args=(b,))

  return lambda: step(batch)


def _assg_step(strategy, cfg, batch, dim, classes):
  with strategy.scope():
    net = model_lib.build_net("assg", classes, dim, cfg)
    opts = [keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4)]
    for opt in opts:
      opt.build(net.trainable_variables)
  replica_step = training.assg_replica_step(net, opts[0], opts[1], cfg.model,
                                            int(batch["features"].shape[0]), True)
  return _traced(strategy, replica_step, batch)


def _cas_step(strategy, cfg, batch, dim, classes):
  with strategy.scope():
    net = model_lib.build_net("cas", classes, dim, cfg)
    opt = keras.optimizers.Adam(1e-4)
    opt.build(net.trainable_variables)
  replica_step = training.cas_replica_step(net, opt, cfg.cas, int(batch["features"].shape[0]))
  return _traced(strategy, replica_step, batch)


def _bare_step(strategy, cfg, batch, dim, classes):
  with strategy.scope():
    net = model_lib.build_net("assg", classes, dim, cfg)
    opt = keras.optimizers.Adam(1e-4)
    opt.build(net.trainable_variables)
  targets = tf.one_hot(tf.zeros(batch["features"].shape[:2], tf.int32), classes + 1)

  def replica_step(b):
    for _ in range(2):  # two forward+backward passes and updates, nothing else
      with tf.GradientTape() as tape:
        logits = net(b["features"], training=True)["heatmap_logits"]
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(targets, logits))
      opt.apply_gradients(zip(tape.gradient(loss, net.trainable_variables),
                              net.trainable_variables))
    return loss

  return _traced(strategy, replica_step, batch)


def _matmul_rate(rows, dim, hidden, repeats):
  """float32 FLOP/s of a [rows, dim] x [dim, hidden] matmul (tf.function, median)."""
  a = tf.random.normal([rows, dim])
  b = tf.random.normal([dim, hidden])
  matmul = tf.function(lambda: tf.matmul(a, b))
  return 2.0 * rows * dim * hidden / _median_seconds(matmul, repeats)


def _training_flops(cfg, rows, dim, classes):
  """Multiply-add FLOPs (x2) of one forward+backward pass over `rows` segments: ASSG, CAS.

  Each layer's backward pass costs two forward passes (the gradients of its input and of its
  weights), except the first layer's, whose input is the features: only its weight gradient.
  """
  m, c = cfg.model, cfg.cas
  assg_first = 2 * rows * m.kernel_size * dim * m.hidden_dim
  assg_rest = 2 * rows * (m.kernel_size * m.hidden_dim ** 2 + 2 * m.hidden_dim * (classes + 1))
  cas_first = 2 * rows * c.kernel_size * dim * c.hidden_dim
  cas_rest = 2 * rows * c.hidden_dim * classes
  if c.network == "stpn":
    cas_rest += 2 * rows * (c.hidden_dim * c.attention_dim + c.attention_dim)
  return 2 * assg_first + 3 * assg_rest, 2 * cas_first + 3 * cas_rest


def _grow_only(batch, classes):
  rng = np.random.default_rng(1)
  logits = rng.normal(size=list(batch["features"].shape[:2]) + [classes + 1]) * 4
  heat = tf.nn.softmax(tf.constant(logits.astype(np.float32)))
  args = (heat, batch["seeds"], batch["mask"], batch["labels"], tf.constant(0.99),
          tf.constant(0.99))
  return lambda: growing.grow(*args)


class _ClosingLines(logging.Handler):
  """Keeps the per-step times of `training.run_stage`'s closing log lines."""

  def __init__(self):
    super().__init__()
    self.ms_per_step = []

  def emit(self, record):
    found = re.search(r"(\d+) ms per step after the first", record.getMessage())
    if found:
      self.ms_per_step.append(float(found.group(1)))


def _loop_ms(kind, strategy, cfg, steps, batch, classes, rng):
  """Per-step ms of `steps` steps of the CAS ("cas") or ASSG ("assg") stage's training loop on
  random videos of the batch's width, twice its length."""
  size, length, dim = (int(n) for n in batch["features"].shape)
  videos = []
  for i in range(4 * size):
    label = i % classes
    labels = np.eye(classes, dtype=np.float32)[label]
    videos.append({"video_id": f"v{i}", "num_segments": 2 * length,
                   "rgb": rng.normal(size=[2 * length, dim]).astype(np.float32),
                   "flow": np.zeros([2 * length, 0], np.float32),
                   "seconds_per_segment": 0.64, "duration": 1.28 * length, "labels": labels,
                   "segments": np.zeros([0, 2], np.float32),
                   "segment_labels": np.zeros([0], np.int64),
                   "ambiguous": np.zeros([0, 2], np.float32)})
  signature = input_pipeline.example_signature(classes, dim, 0)
  # In-graph examples (no Python generator holding the GIL beside the loop), as a tfds reader.
  examples = tf.data.Dataset.from_tensor_slices(
      {k: np.stack([video[k] for video in videos]).astype(spec.dtype.as_numpy_dtype)
       if k != "video_id" else [video[k] for video in videos] for k, spec in signature.items()})
  info = config_lib.DatasetInfo(tuple(f"c{c}" for c in range(classes)), dim, 0, len(videos))
  closing = _ClosingLines()
  logging.getLogger("absl").addHandler(closing)
  with tempfile.TemporaryDirectory() as workdir:
    cfg = dataclasses.replace(
        cfg, model_dir=workdir,
        data=dataclasses.replace(cfg.data, batch_size=size, num_segments=length),
        cas=dataclasses.replace(cfg.cas, steps=steps),
        train=dataclasses.replace(cfg.train, steps=steps, checkpoint_every=10 ** 6,
                                  log_every=10 ** 6, validate_every=10 ** 6))
    if kind == "cas":
      stages.train_cas(cfg, strategy, info, examples, "rgb")
    else:
      seeds = {}
      for i, video in enumerate(videos):  # 5 % of the segments: background or the label
        times = np.flatnonzero(rng.random(2 * length) < 0.05)
        channels = np.where(rng.random(len(times)) < 0.5, 0, i % classes + 1)
        seeds[video["video_id"]] = np.stack([times, channels], axis=1)
      stages.train_assg(cfg, strategy, info, examples, seeds, "rgb", "assg")
  logging.getLogger("absl").removeHandler(closing)
  return closing.ms_per_step[-1]


def _peak_rss_mb():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv):
  del argv
  rng = np.random.default_rng(0)
  cfg = config_lib.Config()
  cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, pooling=FLAGS.pooling))
  strategy = tf.distribute.MirroredStrategy()
  batch = _batch(FLAGS.batch, FLAGS.length, FLAGS.dim, FLAGS.classes, rng)
  assg = _median_seconds(_assg_step(strategy, cfg, batch, FLAGS.dim, FLAGS.classes),
                         FLAGS.repeats)
  bare = _median_seconds(_bare_step(strategy, cfg, batch, FLAGS.dim, FLAGS.classes),
                         FLAGS.repeats)
  grow = _median_seconds(_grow_only(batch, FLAGS.classes), FLAGS.repeats)
  cas = _median_seconds(_cas_step(strategy, cfg, batch, FLAGS.dim, FLAGS.classes),
                        FLAGS.repeats)
  print(f"batch {FLAGS.batch} x T {FLAGS.length} x D {FLAGS.dim}, {FLAGS.classes} classes, "
        f"hidden {cfg.model.hidden_dim}, pooling {cfg.model.pooling}, CPU threads: {tf.config.threading.get_intra_op_parallelism_threads() or 'default'}")
  print(f"ASSG step (grow + L_seed update + L_class update): {1000 * assg:8.1f} ms")
  print(f"two bare forward+backward passes + updates:        {1000 * bare:8.1f} ms")
  print(f"ratio ASSG / bare:                                 {assg / bare:8.2f}x")
  print(f"growing alone (tf.function):                       {1000 * grow:8.2f} ms")
  print(f"CAS seed network step ({cfg.cas.network}, one update):          {1000 * cas:8.1f} ms")
  rows = FLAGS.batch * FLAGS.length
  rate = _matmul_rate(rows, FLAGS.dim, cfg.model.hidden_dim, FLAGS.repeats)
  assg_flops, cas_flops = _training_flops(cfg, rows, FLAGS.dim, FLAGS.classes)
  print(f"\nmatmul rate of this machine (float32, [{rows}, {FLAGS.dim}] x [{FLAGS.dim}, "
        f"{cfg.model.hidden_dim}]): {rate / 1e9:.1f} GFLOP/s")
  for name, seconds, flops in (("ASSG step", assg, 2 * assg_flops),
                               ("two bare passes", bare, 2 * assg_flops),
                               ("CAS step", cas, cas_flops)):
    limit = flops / rate
    print(f"{name:16s}: {flops / 1e9:7.1f} GFLOP -> {1000 * limit:8.1f} ms at that rate; "
          f"measured {seconds / limit:5.2f}x the limit")
  if FLAGS.loop_steps:
    print(f"\ntraining loop ({FLAGS.loop_steps} steps, per step after the first) against "
          "the benchmarked step timed just before and just after it:")
    for kind, make_step in (("cas", _cas_step), ("assg", _assg_step)):
      step = make_step(strategy, cfg, batch, FLAGS.dim, FLAGS.classes)
      before = _median_seconds(step, FLAGS.repeats)
      loop = _loop_ms(kind, strategy, cfg, FLAGS.loop_steps, batch, FLAGS.classes, rng) / 1e3
      after = _median_seconds(step, FLAGS.repeats)
      print(f"{kind.upper():4s} loop {1000 * loop:8.1f} ms; step {1000 * before:8.1f} ms before, "
            f"{1000 * after:8.1f} ms after: loop / step {2 * loop / (before + after):5.2f}x")
  print("\nscaling with T (batch 1): ASSG step ms, growing ms, peak RSS MB so far")
  for length in [int(x) for x in FLAGS.lengths]:
    b = _batch(1, length, FLAGS.dim, FLAGS.classes, rng)
    step_s = _median_seconds(_assg_step(strategy, cfg, b, FLAGS.dim, FLAGS.classes),
                             max(3, FLAGS.repeats // 4))
    grow_s = _median_seconds(_grow_only(b, FLAGS.classes), max(3, FLAGS.repeats // 4))
    print(f"T={length:6d}: {1000 * step_s:9.1f} ms  {1000 * grow_s:8.2f} ms  "
          f"{_peak_rss_mb():8.0f} MB")


if __name__ == "__main__":
  app.run(main)
