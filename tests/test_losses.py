"""Seeding loss (eq. 4), classification loss (eq. 5) and per-replica scaling."""
import numpy as np
import pytest
import tensorflow as tf

from assg_tf import losses


def test_seeding_loss_hand_computed():
  # One video, 2 segments, 2 channels. Logits chosen so that softmax = (0.2, 0.8), (0.5, 0.5).
  logits = np.log(np.array([[[0.2, 0.8], [0.5, 0.5]]], np.float32))
  grown = np.array([[[0, 1], [1, 0]]], np.float32)  # T_1 = {0}, T_0 = {1}
  got = losses.seeding_loss(tf.constant(logits), tf.constant(grown)).numpy()
  np.testing.assert_allclose(got, [-(np.log(0.8) + np.log(0.5)) / 2], rtol=1e-6)


def test_seeding_loss_counts_a_segment_once_per_class():
  logits = np.log(np.array([[[0.25, 0.25, 0.5]]], np.float32))
  grown = np.array([[[0, 1, 1]]], np.float32)  # in T_1 and T_2: two terms, |T| = 2
  got = losses.seeding_loss(tf.constant(logits), tf.constant(grown)).numpy()
  np.testing.assert_allclose(got, [-(np.log(0.25) + np.log(0.5)) / 2], rtol=1e-6)


def test_seeding_loss_is_zero_without_labelled_segments():
  got = losses.seeding_loss(tf.zeros([2, 3, 4]), tf.zeros([2, 3, 4])).numpy()
  np.testing.assert_array_equal(got, [0.0, 0.0])


def test_classification_loss_hand_computed():
  logits = np.array([[0.0, np.log(3.0), 0.0]], np.float32)  # softmax = 0.2, 0.6, 0.2
  labels = np.array([[1.0, 1.0, 0.0]], np.float32)  # normalised: 0.5, 0.5
  got = losses.classification_loss(tf.constant(logits), tf.constant(labels)).numpy()
  np.testing.assert_allclose(got, [-(0.5 * np.log(0.2) + 0.5 * np.log(0.6))], rtol=1e-6)


def test_attention_sparsity_mean_over_real_segments():
  got = losses.attention_sparsity(tf.constant([[0.2, 0.4, 0.9]]), tf.constant([[1.0, 1.0, 0.0]]))
  np.testing.assert_allclose(got.numpy(), [0.3], rtol=1e-6)


def test_replica_mean_divides_by_the_global_batch():
  got = losses.replica_mean(tf.constant([1.0, 3.0]), global_batch_size=8).numpy()
  assert got == pytest.approx(0.5)


def test_balanced_seeding_loss_weighs_foreground_and_background_apart():
  # 3 segments, channels bg, c0. Softmax rows: (0.2, 0.8), (0.5, 0.5), (0.9, 0.1).
  logits = np.log(np.array([[[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]]], np.float32))
  grown = np.array([[[0, 1], [1, 0], [1, 0]]], np.float32)  # T_0 = {1, 2}, T_1 = {0}
  got = losses.balanced_seeding_loss(tf.constant(logits), tf.constant(grown)).numpy()
  expected = -np.log(0.8) - (np.log(0.5) + np.log(0.9)) / 2
  np.testing.assert_allclose(got, [expected], rtol=1e-6)
  paper = losses.seeding_loss(tf.constant(logits), tf.constant(grown)).numpy()
  np.testing.assert_allclose(paper, [-(np.log(0.8) + np.log(0.5) + np.log(0.9)) / 3], rtol=1e-6)


def test_multilabel_loss_hand_computed_and_video_loss_names():
  logits = tf.constant([[0.0, 2.0]])
  labels = tf.constant([[1.0, 0.0]])
  # mean of -log sigmoid(0) and -log(1 - sigmoid(2)) = (log 2 + log(1 + e^2)) / 2.
  expected = (np.log(2.0) + np.log1p(np.exp(2.0))) / 2
  assert losses.multilabel_loss(logits, labels).numpy()[0] == pytest.approx(expected, rel=1e-6)
  assert losses.video_loss("bce") is losses.multilabel_loss
  assert losses.video_loss("softmax") is losses.classification_loss
  with pytest.raises(ValueError, match="expected one of"):
    losses.video_loss("hinge")
