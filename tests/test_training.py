"""The training loop (Algorithm 1) run by the stages: losses fall, checkpoints resume,
corruption is named."""
import dataclasses
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from assg_tf import config as config_lib
from assg_tf import distribute, input_pipeline, stages, synthetic, training

SPEC = dataclasses.replace(synthetic.SPECS["synthetic"], num_train_videos=16,
                           num_test_videos=4, feature_dim=16, num_classes=4)


@pytest.fixture(scope="module")
def data():
  videos = list(synthetic.generate_split(SPEC, "train"))
  examples = input_pipeline.from_examples(lambda: videos, SPEC.num_classes, 16, 16).cache()
  info = config_lib.DatasetInfo(tuple(synthetic.class_names(SPEC)), 16, 16, len(videos))
  return examples, info


def _cfg(model_dir, cas_steps=30, assg_steps=30):
  return config_lib.Config(
      model_dir=str(model_dir),
      data=config_lib.DataConfig(num_segments=32, batch_size=4, shuffle_buffer=16),
      # The paper's background rule: background seeds in every video even from a CAS network
      # trained a few steps (the probability rule is tested in test_seeds.py).
      cas=config_lib.CASConfig(hidden_dim=32, attention_dim=16, steps=cas_steps,
                               learning_rate=1e-3, bg_seed_rule="paper"),
      # theta_g = 1: the seeds are the labels throughout, so the seeding loss is one fixed
      # objective that must fall (growth changes the labels as the network learns).
      model=config_lib.ModelConfig(hidden_dim=32, growing_threshold_fg=1.0,
                                   growing_threshold_bg=1.0),
      train=config_lib.TrainConfig(steps=assg_steps, learning_rate=1e-3, checkpoint_every=10,
                                   log_every=10, validate_every=1000))


def _scalars(logdir, tag):
  from tensorboard.backend.event_processing import event_accumulator
  acc = event_accumulator.EventAccumulator(logdir, size_guidance={"tensors": 0})
  acc.Reload()
  return [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]


def test_cas_then_assg_losses_fall_and_seeds_cover_the_labelled_classes(data, tmp_path):
  examples, info = data
  cfg = _cfg(tmp_path)
  strategy = distribute.create_strategy()
  keras.utils.set_random_seed(0)  # Python, numpy and TF generators: the weights Keras draws
  cas_net = stages.train_cas(cfg, strategy, info, examples, "flow")
  cas_loss = _scalars(str(tmp_path / "logs" / "cas_flow"), "loss")
  assert cas_loss[-1][1] < cas_loss[0][1]

  seeds = stages.compute_seeds(cas_net, examples, cfg, info, "flow")
  assert len(seeds) == SPEC.num_train_videos
  for video in synthetic.generate_split(SPEC, "train"):
    coords = seeds[video["video_id"]]
    fg_channels = set(coords[coords[:, 1] > 0, 1] - 1)
    assert fg_channels == set(np.flatnonzero(video["labels"]))  # every label, no other class
    assert (coords[:, 1] == 0).any()  # some background

  # SSG alone minimises the seeding loss (theta_g = 1: the labels are the seeds): on one fixed
  # batch of every training video it is lower after training than at initialisation (the
  # logged values are single random batches of 4 videos, too noisy to compare).
  from assg_tf import losses, model as model_lib, seeds as seeds_lib
  batch = next(iter(input_pipeline.train_dataset(
      seeds_lib.attach_seeds(examples, seeds, SPEC.num_classes + 1), 32, 16, seed=0,
      extra_sequence_keys=("seeds",), repeat=False)))
  x = batch["features"][..., 16:]  # flow

  def seeding_loss(net):
    logits = net(x, batch["mask"])["heatmap_logits"]
    return float(tf.reduce_mean(losses.balanced_seeding_loss(logits, batch["seeds"])))

  untrained = model_lib.build_net("ssg", SPEC.num_classes, 16, cfg)
  untrained.standardize.set_statistics(*stages.feature_statistics(examples, "flow"))
  ssg = stages.train_assg(cfg, strategy, info, examples, seeds, "flow", "ssg")
  assert seeding_loss(ssg) < 0.8 * seeding_loss(untrained)
  assert [s for s, _ in _scalars(str(tmp_path / "logs" / "ssg_flow"), "seed_loss")] == [
      10, 20, 30]
  # In ASSG the classifier's updates move the shared features too (the adversarial game):
  # its classification loss must fall.
  stages.train_assg(cfg, strategy, info, examples, seeds, "flow", "assg")
  class_loss = _scalars(str(tmp_path / "logs" / "assg_flow"), "class_loss")
  assert class_loss[-1][1] < class_loss[0][1]


def test_resume_continues_from_the_saved_step(data, tmp_path):
  examples, info = data
  strategy = distribute.create_strategy()
  stages.train_cas(_cfg(tmp_path, cas_steps=20), strategy, info, examples, "rgb")
  ckpt_dir = tmp_path / "checkpoints" / "cas_rgb"
  assert tf.train.latest_checkpoint(str(ckpt_dir)).endswith("ckpt-20")
  # A second run to 30 steps starts at 20: only steps 21..30 are logged again.
  net = stages.train_cas(_cfg(tmp_path, cas_steps=30), strategy, info, examples, "rgb")
  assert tf.train.latest_checkpoint(str(ckpt_dir)).endswith("ckpt-30")
  steps = [s for s, _ in _scalars(str(tmp_path / "logs" / "cas_rgb"), "loss")]
  assert sorted(steps) == [10, 20, 30]
  # Resumed weights equal the checkpoint's.
  again = stages.train_cas(_cfg(tmp_path, cas_steps=30), strategy, info, examples, "rgb")
  for a, b in zip(net.weights, again.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_corrupted_checkpoint_is_named(data, tmp_path):
  examples, info = data
  strategy = distribute.create_strategy()
  stages.train_cas(_cfg(tmp_path, cas_steps=10), strategy, info, examples, "rgb")
  ckpt_dir = tmp_path / "checkpoints" / "cas_rgb"
  data_file = [f for f in os.listdir(ckpt_dir) if f.startswith("ckpt-10.data")][0]
  (ckpt_dir / data_file).write_bytes(b"garbage")
  with pytest.raises(training.CorruptCheckpointError, match="ckpt-10 cannot be restored"):
    stages.train_cas(_cfg(tmp_path, cas_steps=20), strategy, info, examples, "rgb")


def test_bad_config_is_refused_before_anything_is_written(data, tmp_path):
  examples, info = data
  strategy = distribute.create_strategy()
  cfg = _cfg(tmp_path)
  bad = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, checkpoint_every=0))
  with pytest.raises(ValueError, match=r"^train\.checkpoint_every=0: expected a positive int$"):
    stages.train_cas(bad, strategy, info, examples, "rgb")
  with pytest.raises(ValueError, match=r"^log_every=0: expected a positive int$"):
    training.run_stage("x", None, {}, None, None, 10, config_lib.TrainConfig(log_every=0),
                       strategy, str(tmp_path))
  assert os.listdir(tmp_path) == []


def test_a_resumed_stage_ends_bit_identical_to_an_uninterrupted_one(data, tmp_path):
  import random
  import keras
  examples, info = data
  strategy = distribute.create_strategy()

  def train(stage, workdir, steps, seeds=None, other_draws=False):
    keras.utils.set_random_seed(0)  # as stages.train_and_evaluate does, from DataConfig.seed
    if other_draws:  # other initial weights and dropout seeds: the checkpoint must restore all
      random.random()
    cfg = _cfg(workdir, cas_steps=steps, assg_steps=steps)
    if stage == "cas":
      return stages.train_cas(cfg, strategy, info, examples, "rgb")
    return stages.train_assg(cfg, strategy, info, examples, seeds, "rgb", "assg")

  whole_cas = train("cas", tmp_path / "whole", 20)
  seeds = stages.compute_seeds(whole_cas, examples, _cfg(tmp_path), info, "rgb")
  whole_assg = train("assg", tmp_path / "whole", 20, seeds)
  for stage, whole in (("cas", whole_cas), ("assg", whole_assg)):
    train(stage, tmp_path / "cut", 10, seeds)  # stops after checkpoint 10
    resumed = train(stage, tmp_path / "cut", 20, seeds, other_draws=True)
    assert len(resumed.weights) == len(whole.weights)
    for a, b in zip(whole.weights, resumed.weights):
      np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f"{stage} {a.path}")


def test_stage_clock_adds_up_each_part(monkeypatch):
  ticks = iter([0.0, 1.0, 3.0, 3.0, 3.5, 4.0, 4.25, 10.0])
  monkeypatch.setattr(training.time, "perf_counter", lambda: next(ticks))
  clock = training._StageClock()  # starts at 0.0
  with clock("first step"):  # 1.0 -> 3.0
    pass
  with clock("steps"):  # 3.0 -> 3.5
    pass
  with clock("steps"):  # 4.0 -> 4.25
    pass
  assert clock.seconds == {"first step": 2.0, "steps": 0.75}
  assert clock.report(later_steps=2) == (
      "10.0 s (first step 2.0 s, steps 0.8 s; 375 ms per step after the first)")
