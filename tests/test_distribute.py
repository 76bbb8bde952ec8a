"""assg_tf/distribute.py: the strategy and how the training batches reach its replicas (two
replicas and two workers train in tests/test_multiworker.py)."""
import json

import pytest
import tensorflow as tf

from assg_tf import distribute


def test_one_replica_takes_the_dataset_itself():
  # No per-device iterator: its own tf.data autotuning makes deleting it stall a stage's end.
  strategy = distribute.create_strategy()
  assert strategy.num_replicas_in_sync == 1
  dataset = tf.data.Dataset.range(6).batch(2)
  assert distribute.distribute_dataset(strategy, dataset) is dataset
  step = tf.function(lambda b: strategy.run(lambda x: 2 * x, args=(b,)))
  assert [step(b).numpy().tolist() for b in dataset] == [[0, 2], [4, 6], [8, 10]]


def test_workers_in_tf_config(monkeypatch):
  monkeypatch.delenv("TF_CONFIG", raising=False)
  assert distribute.num_workers_in_tf_config() == 0
  cluster = {"chief": ["a:1"], "worker": ["b:1", "c:1"]}
  monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster}))
  assert distribute.num_workers_in_tf_config() == 3
  monkeypatch.setenv("TF_CONFIG", "[1]")
  with pytest.raises(ValueError, match="TF_CONFIG is not a JSON object"):
    distribute.num_workers_in_tf_config()
