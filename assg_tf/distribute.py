"""The one place a tf.distribute strategy is created (docs/DESIGN.md "Method").

MultiWorkerMirroredStrategy when `TF_CONFIG` names more than one worker, else MirroredStrategy
over the given devices (default: every GPU, or the CPU when there is none).
"""
from __future__ import annotations

import json
import os
from typing import Optional, Sequence, Union

import tensorflow as tf


def num_workers_in_tf_config() -> int:
  """How many workers TF_CONFIG's cluster lists (0 when TF_CONFIG is unset)."""
  raw = os.environ.get("TF_CONFIG")
  if not raw:
    return 0
  try:
    cluster = json.loads(raw).get("cluster", {})
  except (json.JSONDecodeError, AttributeError) as e:
    raise ValueError(f"TF_CONFIG is not a JSON object with a 'cluster': {raw!r}") from e
  return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def create_strategy(devices: Optional[Sequence[str]] = None) -> tf.distribute.Strategy:
  if num_workers_in_tf_config() > 1:
    return tf.distribute.MultiWorkerMirroredStrategy()
  return tf.distribute.MirroredStrategy(devices=list(devices) if devices else None)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """Whether this process writes the run's files: the only worker of a single-machine
  strategy, or the chief (else worker 0) of a MultiWorkerMirroredStrategy cluster."""
  resolver = getattr(strategy, "cluster_resolver", None)
  task_type = getattr(resolver, "task_type", None)
  task_id = getattr(resolver, "task_id", None) or 0
  return task_type in (None, "chief") or (task_type == "worker" and task_id == 0 and
                                          "chief" not in resolver.cluster_spec().jobs)


def worker_dir(path: str, strategy: tf.distribute.Strategy) -> str:
  """Where this worker writes what every worker must write (checkpoints under
  MultiWorkerMirroredStrategy): `path` on the chief, `path/workertemp_<task id>` elsewhere (the
  TensorFlow multi-worker convention; the caller deletes that folder after writing)."""
  if is_chief(strategy):
    return path
  return os.path.join(path, f"workertemp_{strategy.cluster_resolver.task_id}")


def distribute_dataset(strategy: tf.distribute.Strategy, dataset: tf.data.Dataset
                       ) -> Union[tf.data.Dataset, tf.distribute.DistributedDataset]:
  """The training batches as the strategy's replicas take them.

  One replica (the default on a CPU or a single GPU, one worker): the dataset itself, which
  `strategy.run` hands to that replica whole. `experimental_distribute_dataset` would wrap it
  in a per-device iterator that only copies the batch, and whose own tf.data autotuning makes
  deleting it wait up to a minute at the end of every stage (see
  `input_pipeline._without_autotuning`; docs/RESULTS.md §3.1). On one GPU the batch is then
  copied to the device inside the step instead of ahead of it (not measured here: no GPU).

  Several replicas: `strategy.experimental_distribute_dataset` with DATA auto-sharding. Our
  training datasets come from tfds readers or Python generators, which FILE sharding cannot
  split; with DATA, every worker runs the same (deterministically seeded) pipeline and keeps its
  own share of each global batch, so N workers see exactly the batches one worker would.
  """
  if strategy.num_replicas_in_sync == 1:
    return dataset
  options = tf.data.Options()
  options.experimental_distribute.auto_shard_policy = (
      tf.data.experimental.AutoShardPolicy.DATA)
  return strategy.experimental_distribute_dataset(dataset.with_options(options))
