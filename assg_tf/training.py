"""The training loop and the replica steps of the CAS seed network and ASSG (paper 3.4, Alg. 1).

Each stage (the CAS network of a stream, the SSG or ASSG network of a stream; wired to the data
in `stages.py`) is one custom GradientTape loop (`run_stage`) under the tf.distribute strategy
created by `distribute.create_strategy`:

* CAS (paper 3.2.1): classification loss (eq. 5) on the attention-pooled T-CAS plus STPN's
  attention sparsity.
* ASSG, every step (Algorithm 1): forward; grow the initial seeds under the current heatmap
  (lines 4-12, `growing.grow`, no gradient); update with L_seed (eq. 4, line 13); forward again;
  erase where the updated heatmap is above theta_a (lines 14-15); update with L_class on the
  pooled erased map (SAP, eq. 2-3, or the defaults' top-k; eq. 5; lines 16-17). The SSG ablation
  (Table 2) skips the second update. The two updates use two Adam optimizers (learning rate
  1e-4, paper 4.2), so the moment estimates of one objective are not mixed with the other's.

Losses are per-replica shares of the global-batch mean (`losses.replica_mean`), so the summed
gradient over replicas is the gradient of the global mean. Optimizers are built inside the
strategy scope before the first traced step. Each stage checkpoints every
`TrainConfig.checkpoint_every` steps with a tf.train.CheckpointManager (model, optimizers, step,
random state) and resumes from the latest checkpoint: an interrupted run loses only the steps
since then, and ends bit-identical to an uninterrupted one when TensorFlow runs on one thread
(`python -m assg_tf.train --deterministic`; on several, the ASSG step's last bits vary). The
random state is the Keras SeedGenerators' (dropout), which a Keras 3 model leaves out of its
checkpoint. The input iterator is not saved (a distributed iterator is not trackable, and a
tf.data iterator's state holds its shuffle buffer of whole videos): the resumed stage rebuilds
the same seeded dataset and skips the batches already trained on
(`input_pipeline.train_dataset(skip=step)`).
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Callable, Dict, Optional

import keras
import tensorflow as tf
from absl import logging

from assg_tf import config as config_lib
from assg_tf import distribute
from assg_tf import growing
from assg_tf import losses
from assg_tf import run_dir


class CorruptCheckpointError(RuntimeError):
  """A checkpoint that exists but cannot be restored."""


def _restore(manager: tf.train.CheckpointManager, checkpoint: tf.train.Checkpoint) -> int:
  path = manager.latest_checkpoint
  if path is None:
    return 0
  try:
    checkpoint.restore(path).assert_existing_objects_matched()
  except (tf.errors.OpError, AssertionError, ValueError, IndexError, KeyError) as e:
    raise CorruptCheckpointError(
        f"checkpoint {path} cannot be restored ({type(e).__name__}: {e}); delete the folder "
        f"{os.path.dirname(path)} to train this stage from scratch") from e
  return int(checkpoint.step.numpy())


def cas_replica_step(net, optimizer, cfg: config_lib.CASConfig, global_batch_size: int):
  """The CAS network's update on one replica's share of a batch of its stream's features
  (`input_pipeline.train_dataset(streams=(stream,))`)."""

  def step(batch):
    x, mask, labels = batch["features"], batch["mask"], batch["labels"]
    with tf.GradientTape() as tape:
      out = net(x, mask, training=True)
      per_video = losses.video_loss(cfg.loss)(out["video_logits"], labels)
      if cfg.network == "stpn":  # the MIL network has no attention branch to make sparse
        per_video += cfg.sparsity_weight * losses.attention_sparsity(out["attention"], mask)
      loss = losses.replica_mean(per_video, global_batch_size)
    grads = tape.gradient(loss, net.trainable_variables)
    optimizer.apply_gradients(zip(grads, net.trainable_variables))
    return {"loss": loss}

  return step


def assg_replica_step(net, seed_optimizer, class_optimizer, cfg: config_lib.ModelConfig,
                      global_batch_size: int, with_classifier: bool):
  """One iteration of Algorithm 1 on one replica's share of a batch of its stream's features
  (as `cas_replica_step`)."""
  seeding_loss = {"paper": losses.seeding_loss,
                  "balanced": losses.balanced_seeding_loss}[cfg.seeding_loss]
  theta_fg = tf.constant(cfg.growing_threshold_fg, tf.float32)
  theta_bg = tf.constant(cfg.growing_threshold_bg, tf.float32)

  def share(values, weights):
    # This replica's share of the global-batch mean of a per-video ratio (for logging).
    per_video = tf.reduce_sum(values, axis=[1, 2]) / tf.maximum(weights, 1.0)
    return losses.replica_mean(per_video, global_batch_size)

  def step(batch):
    x, mask, labels, seeds = batch["features"], batch["mask"], batch["labels"], batch["seeds"]
    length = tf.reduce_sum(mask, axis=1)
    with tf.GradientTape() as tape:
      out = net(x, mask, training=True)
      grown = growing.grow(net.training_heatmaps(out, labels), seeds, mask, labels, theta_fg,
                           theta_bg)
      seed_loss = losses.replica_mean(
          seeding_loss(out["heatmap_logits"], grown), global_batch_size)
    variables = net.trainable_variables
    seed_optimizer.apply_gradients(zip(tape.gradient(seed_loss, variables), variables))
    metrics = {
        "seed_loss": seed_loss,
        "seed_coverage": share(tf.minimum(seeds, 1.0) * mask[:, :, None], length),
        "grown_foreground": share(grown[:, :, 1:], length),
        "grown_background": share(grown[:, :, :1], length),
    }
    if with_classifier:
      with tf.GradientTape() as tape:
        out = net(x, mask, training=True)
        video_logits = net.classify(out, mask, labels)
        class_loss = losses.replica_mean(
            losses.video_loss(cfg.class_loss)(video_logits, labels), global_batch_size)
      class_optimizer.apply_gradients(zip(tape.gradient(class_loss, variables), variables))
      erased = tf.cast(net.training_heatmaps(out, labels)[:, :, 1:] > cfg.erasing_threshold,
                       tf.float32)
      metrics["class_loss"] = class_loss
      metrics["erased"] = share(erased * labels[:, None, :] * mask[:, :, None],
                                length * tf.reduce_sum(labels, axis=1))
    return metrics

  return step


# Set by `interrupt_handler` (python -m assg_tf.train installs it for SIGINT).
_interrupted = threading.Event()


def interrupt_handler(signum, frame):
  """SIGINT handler: raises KeyboardInterrupt, as Python's own does, and remembers it. Python
  ignores an exception raised inside a finalizer (`__del__`), and a signal can land there while
  tf.data iterators are collected; `run_stage` then raises it again before its next step."""
  del signum, frame
  _interrupted.set()
  raise KeyboardInterrupt


def _stop_if_interrupted():
  if _interrupted.is_set():
    raise KeyboardInterrupt


def run_stage(name: str, net: keras.Model, optimizers: Dict[str, keras.optimizers.Optimizer],
              replica_step: Callable, make_dataset: Callable[[int], tf.data.Dataset],
              steps: int, train_cfg: config_lib.TrainConfig, strategy: tf.distribute.Strategy,
              workdir: str, validate: Optional[Callable[[], float]] = None) -> int:
  """Runs (or resumes) one training stage to `steps` steps; returns the step reached.

  `net` and `optimizers` must have been created under `strategy.scope()`; `make_dataset(step)`
  gives the global-batch training dataset from step `step` on (the batches an uninterrupted run
  trains on after `step` steps); `validate()` returns a validation score (mAP on
  held-out training videos) logged to TensorBoard.
  """
  config_lib.validate(train_cfg)
  ckpt_dir = run_dir.checkpoints_dir(workdir, name)
  with strategy.scope():
    for opt in optimizers.values():
      opt.build(net.trainable_variables)
    step_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    checkpoint = tf.train.Checkpoint(step=step_var, model=net, **optimizers,
                                     random_state=list(net.non_trainable_variables))
  manager = tf.train.CheckpointManager(checkpoint, ckpt_dir,
                                       max_to_keep=train_cfg.keep_checkpoints)
  # Multi-worker: every worker saves (saving may run collectives), only the chief into
  # ckpt_dir; the others into a temporary folder deleted after each save. All restore from
  # the chief's checkpoints.
  chief = distribute.is_chief(strategy)
  save_dir = distribute.worker_dir(ckpt_dir, strategy)
  saver = manager if chief else tf.train.CheckpointManager(checkpoint, save_dir, max_to_keep=1)
  start = _restore(manager, checkpoint)
  if start >= steps:
    logging.info("%s: already trained to step %d", name, start)
    return start
  if start:
    logging.info("%s: resuming from step %d (%s)", name, start, manager.latest_checkpoint)

  dataset = distribute.distribute_dataset(strategy, make_dataset(start))
  iterator = iter(dataset)

  @tf.function(input_signature=[iterator.element_spec])
  def train_step(batch):
    per_replica = strategy.run(replica_step, args=(batch,))
    return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
            for k, v in per_replica.items()}

  writer = (tf.summary.create_file_writer(run_dir.logs_dir(workdir, name)) if chief
            else tf.summary.create_noop_writer())
  if not chief:
    validate = None  # its score would only be logged, and only the chief logs
  clock = _StageClock()
  step = start
  with writer.as_default():
    while step < steps:
      _stop_if_interrupted()
      with clock("input"):
        batch = next(iterator)
      with clock("first step" if step == start else "steps"):
        metrics = train_step(batch)
        values = {k: float(v) for k, v in metrics.items()}  # waits for the step's result
      step += 1
      step_var.assign(step)
      if step % train_cfg.log_every == 0 or step == steps:
        with clock("summaries"):
          for k, v in values.items():
            tf.summary.scalar(k, v, step=step)
        rate = (step - start) / max(clock.total(), 1e-9)
        eta = (steps - step) / max(rate, 1e-9)
        logging.info("%s step %d/%d  %s  (%.1f steps/s, %.0f s left)", name, step, steps,
                     "  ".join(f"{k}={v:.4f}" for k, v in sorted(values.items())), rate, eta)
      if validate is not None and (step % train_cfg.validate_every == 0 or step == steps):
        with clock("validation"):
          score = validate()
        _stop_if_interrupted()
        tf.summary.scalar("validation_mAP", score, step=step)
        logging.info("%s step %d  validation mAP %.4f", name, step, score)
      if step % train_cfg.checkpoint_every == 0 or step == steps:
        with clock("checkpoints"):
          saver.save(checkpoint_number=step)
          if not chief:
            tf.io.gfile.rmtree(save_dir)
  logging.info("%s: %d steps in %s", name, step - start, clock.report(step - start - 1))
  return step


class _StageClock:
  """Wall time of a stage's loop by part, for its closing log line: the first step (tracing),
  the other steps, the input pipeline, summaries, validation and checkpoints. It tells how far
  the loop is from the step that `benchmarks/bench_training.py` measures (docs/RESULTS.md §3)."""

  def __init__(self):
    self.seconds: Dict[str, float] = {}
    self._start = time.perf_counter()

  @contextlib.contextmanager
  def __call__(self, part: str):
    t = time.perf_counter()
    try:
      yield
    finally:
      self.seconds[part] = self.seconds.get(part, 0.0) + time.perf_counter() - t

  def total(self) -> float:
    return time.perf_counter() - self._start

  def report(self, later_steps: int) -> str:
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
    per_step = self.seconds.get("steps", 0.0) / max(later_steps, 1)
    return f"{self.total():.1f} s ({parts}; {per_step * 1e3:.0f} ms per step after the first)"
