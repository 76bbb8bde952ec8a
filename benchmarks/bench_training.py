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
The networks are the defaults (`config.Config()`: kernel-3 convolutions, split head).
All in the same process, medians over --repeats calls after a warm-up.
"""
from __future__ import annotations

import resource
import statistics
import time

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags

from assg_tf import config as config_lib
from assg_tf import growing
from assg_tf import model as model_lib
from assg_tf import training

flags.DEFINE_integer("batch", 16, "Videos per batch.")
flags.DEFINE_integer("length", 400, "Segments per video (N).")
flags.DEFINE_integer("dim", 1024, "Feature width of one stream.")
flags.DEFINE_integer("classes", 20, "Action classes.")
flags.DEFINE_integer("repeats", 20, "Timed calls.")
flags.DEFINE_list("lengths", ["400", "4000", "40000"], "T values for the scaling table "
                  "(batch 1).")
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


def _peak_rss_mb():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv):
  del argv
  rng = np.random.default_rng(0)
  cfg = config_lib.Config()
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
        f"hidden {cfg.model.hidden_dim}, CPU threads: {tf.config.threading.get_intra_op_parallelism_threads() or 'default'}")
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
