"""Erasing and Self-Adaptive Pooling (eq. 2-3) against a numpy reference; GAP and GMP."""
import numpy as np
import pytest
import tensorflow as tf

from assg_tf import sap


def _reference_sap(logits, energy, keep, mask):
  """Straight from eq. 2-3: materialise each class's erased map and pool it."""
  batch, length, classes = logits.shape
  out = np.zeros([batch, classes])
  for b in range(batch):
    for c in range(classes):
      idx = [t for t in range(length) if keep[b, t, c] > 0 and mask[b, t] > 0]
      if not idx:
        continue
      e = energy[b, idx]
      a = np.exp(e - e.max()) / np.exp(e - e.max()).sum()
      out[b, c] = (a * logits[b, idx, c]).sum()
  return out


def test_sap_matches_numpy_reference():
  rng = np.random.default_rng(1)
  logits = rng.normal(size=[3, 20, 5]).astype(np.float32)
  energy = (rng.random([3, 20]) * 10).astype(np.float32)
  keep = (rng.random([3, 20, 5]) > 0.3).astype(np.float32)
  keep[2, :, 4] = 0  # everything erased for one class
  mask = np.ones([3, 20], np.float32)
  mask[1, 12:] = 0
  got = sap.ErasedPooling("sap")(logits, energy, keep, mask).numpy()
  np.testing.assert_allclose(got, _reference_sap(logits, energy, keep, mask), rtol=1e-5,
                             atol=1e-6)
  assert got[2, 4] == 0.0


def test_sap_known_case():
  # Two kept segments with energies 0 and log(3): attention 1/4, 3/4.
  logits = np.array([[[2.0], [4.0], [100.0]]], np.float32)
  energy = np.array([[0.0, np.log(3.0), 50.0]], np.float32)
  keep = np.array([[[1.0], [1.0], [0.0]]], np.float32)  # the third is erased
  got = sap.ErasedPooling("sap")(logits, energy, keep, np.ones([1, 3], np.float32)).numpy()
  np.testing.assert_allclose(got, [[2.0 * 0.25 + 4.0 * 0.75]], rtol=1e-6)


def test_gap_and_gmp_known_cases():
  logits = np.array([[[1.0], [3.0], [8.0], [100.0]]], np.float32)
  energy = np.zeros([1, 4], np.float32)
  keep = np.array([[[1.0], [1.0], [0.0], [1.0]]], np.float32)
  mask = np.array([[1.0, 1.0, 1.0, 0.0]], np.float32)  # the fourth is padding
  assert sap.ErasedPooling("gap")(logits, energy, keep, mask).numpy()[0, 0] == pytest.approx(2.0)
  assert sap.ErasedPooling("gmp")(logits, energy, keep, mask).numpy()[0, 0] == pytest.approx(3.0)


def test_erasing_only_labelled_classes_above_threshold():
  heat = np.array([[[0.1, 0.5, 0.4], [0.5, 0.3, 0.2], [0.1, 0.2, 0.7]]], np.float32)
  labels = np.array([[1.0, 0.0]], np.float32)
  keep = sap.erasing_keep_mask(tf.constant(heat), tf.constant(labels), 0.4).numpy()
  # class 0 (channel 1): 0.5 > 0.4 erased; class 1 is not a label: never erased.
  np.testing.assert_array_equal(keep[0], [[0, 1], [1, 1], [1, 1]])


def test_erasing_threshold_is_strict():
  heat = np.array([[[0.6, 0.4]]], np.float32)
  keep = sap.erasing_keep_mask(tf.constant(heat), tf.constant([[1.0]]), 0.4).numpy()
  np.testing.assert_array_equal(keep, [[[1.0]]])


def test_erasing_mask_has_no_gradient():
  heat = tf.Variable(np.array([[[0.1, 0.9]]], np.float32))
  with tf.GradientTape() as tape:
    keep = sap.erasing_keep_mask(heat, tf.constant([[1.0]]), 0.4)
  assert tape.gradient(keep, heat) is None


def test_unknown_pooling_is_refused():
  with pytest.raises(ValueError, match="pooling method 'max'"):
    sap.ErasedPooling("max")


def test_sap_gradient_reaches_logits_and_energy():
  logits = tf.Variable(np.random.default_rng(0).normal(size=[1, 5, 2]).astype(np.float32))
  energy = tf.Variable(np.arange(5, dtype=np.float32)[None])
  with tf.GradientTape() as tape:
    out = sap.ErasedPooling("sap")(logits, energy, tf.ones([1, 5, 2]), tf.ones([1, 5]))
    total = tf.reduce_sum(out)
  g_logits, g_energy = tape.gradient(total, [logits, energy])
  assert np.all(np.isfinite(g_logits.numpy())) and np.abs(g_energy.numpy()).sum() > 0


def test_topk_known_case_over_kept_segments():
  # Class 0: 4 kept real segments (the fifth is padding, value 100), k = ceil(0.5 * 4) = 2 ->
  # mean of 6 and 5. Class 1: segments 1 and 3 erased, 2 kept, k = 1 -> 2 (not the erased 9).
  # Class 2: everything erased -> 0.
  logits = np.array([[[1.0, 2.0, 7.0], [6.0, 9.0, 7.0], [5.0, -1.0, 7.0], [2.0, 9.0, 7.0],
                      [100.0, 100.0, 100.0]]], np.float32)
  keep = np.ones([1, 5, 3], np.float32)
  keep[0, [1, 3], 1] = 0
  keep[0, :, 2] = 0
  mask = np.array([[1.0, 1.0, 1.0, 1.0, 0.0]], np.float32)
  pool = sap.ErasedPooling("topk", topk_fraction=0.5)
  got = pool(logits, np.zeros([1, 5], np.float32), keep, mask).numpy()
  np.testing.assert_allclose(got, [[5.5, 2.0, 0.0]])
  assert pool.get_config()["topk_fraction"] == 0.5


def test_topk_with_fraction_one_is_gap():
  rng = np.random.default_rng(2)
  logits = rng.normal(size=[2, 9, 4]).astype(np.float32)
  keep = (rng.random([2, 9, 4]) > 0.4).astype(np.float32)
  mask = np.ones([2, 9], np.float32)
  mask[1, 6:] = 0
  energy = np.zeros([2, 9], np.float32)
  np.testing.assert_allclose(sap.ErasedPooling("topk", topk_fraction=1.0)(
      logits, energy, keep, mask).numpy(), sap.ErasedPooling("gap")(
          logits, energy, keep, mask).numpy(), rtol=1e-5, atol=1e-6)


def test_bad_topk_fraction_is_refused():
  with pytest.raises(ValueError, match="topk_fraction=0"):
    sap.ErasedPooling("topk", topk_fraction=0)
