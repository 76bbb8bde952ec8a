"""The one place a tf.distribute strategy is created (SPEC 3 "Training").

MultiWorkerMirroredStrategy when `TF_CONFIG` names more than one worker, else MirroredStrategy
over the given devices (default: every GPU, or the CPU when there is none).
"""
from __future__ import annotations

import json
import os
from typing import Optional, Sequence

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
