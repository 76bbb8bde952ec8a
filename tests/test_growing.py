"""Seed growing (eq. 1, Algorithm 1 lines 4-12) on small hand-made heatmaps."""
import numpy as np
import pytest
import tensorflow as tf

from assg_tf import growing

FG = "fg"
BG = "bg"


def _heatmap(rows):
  """rows: per segment, a tuple of C+1 probabilities."""
  return np.array(rows, np.float32)[None]


def _run(heat, seeds, labels, mask=None, theta_fg=0.9, theta_bg=0.9):
  heat = np.asarray(heat, np.float32)
  batch, length, _ = heat.shape
  mask = np.ones([batch, length], np.float32) if mask is None else np.asarray(mask, np.float32)
  return growing.grow(tf.constant(heat), tf.constant(np.asarray(seeds, np.float32)),
                      tf.constant(mask), tf.constant(np.asarray(labels, np.float32)),
                      tf.constant(theta_fg), tf.constant(theta_bg)).numpy()


def _seeds(length, channels, points, batch=1):
  s = np.zeros([batch, length, channels], np.float32)
  for b, t, c in points:
    s[b, t, c] = 1
  return s


# One class (channels: bg, class 0). "q" = segment qualifies for class 0 (0.95), "n" = not.
Q = (0.05, 0.95)
N = (0.5, 0.5)
B = (0.95, 0.05)


def test_seed_next_to_qualifying_run_takes_the_whole_run():
  heat = _heatmap([N, Q, Q, Q, N, Q])
  seeds = _seeds(6, 2, [(0, 1, 1)])
  grown = _run(heat, seeds, [[1]])
  np.testing.assert_array_equal(grown[0, :, 1], [0, 1, 1, 1, 0, 0])
  np.testing.assert_array_equal(grown[0, :, 0], [0] * 6)


def test_run_broken_by_one_non_qualifying_segment_stops_there():
  heat = _heatmap([Q, Q, N, Q, Q])
  seeds = _seeds(5, 2, [(0, 0, 1)])
  grown = _run(heat, seeds, [[1]])
  np.testing.assert_array_equal(grown[0, :, 1], [1, 1, 0, 0, 0])


def test_seed_on_non_qualifying_segment_grows_into_neighbours_on_both_sides():
  heat = _heatmap([Q, Q, N, Q, N])
  seeds = _seeds(5, 2, [(0, 2, 1)])
  grown = _run(heat, seeds, [[1]])
  np.testing.assert_array_equal(grown[0, :, 1], [1, 1, 1, 1, 0])


def test_qualifying_run_without_seed_is_not_labelled():
  heat = _heatmap([Q, Q, N, N, Q])
  seeds = _seeds(5, 2, [(0, 4, 1)])
  grown = _run(heat, seeds, [[1]])
  np.testing.assert_array_equal(grown[0, :, 1], [0, 0, 0, 0, 1])


def test_threshold_is_inclusive():
  heat = _heatmap([(0.1, 0.9), (0.1, 0.9), (0.11, 0.89)])
  seeds = _seeds(3, 2, [(0, 0, 1)])
  grown = _run(heat, seeds, [[1]], theta_fg=0.9)
  np.testing.assert_array_equal(grown[0, :, 1], [1, 1, 0])


def test_background_grows_with_its_own_threshold():
  heat = _heatmap([B, B, (0.85, 0.15), Q])
  seeds = _seeds(4, 2, [(0, 0, 0), (0, 3, 1)])
  grown = _run(heat, seeds, [[1]], theta_fg=0.9, theta_bg=0.8)
  np.testing.assert_array_equal(grown[0, :, 0], [1, 1, 1, 0])
  np.testing.assert_array_equal(grown[0, :, 1], [0, 0, 0, 1])


def test_argmax_conflict_between_two_labelled_classes():
  # channels: bg, class 0, class 1. Segment 2 is above class 0's threshold... impossible with
  # a softmax; so use thresholds below 0.5 to make the argmax the deciding rule.
  heat = _heatmap([(0.1, 0.6, 0.3), (0.1, 0.45, 0.45), (0.1, 0.4, 0.5), (0.1, 0.6, 0.3)])
  seeds = _seeds(4, 3, [(0, 0, 1), (0, 3, 2)])
  grown = _run(heat, seeds, [[1, 1]], theta_fg=0.3)
  # Segment 1 is a tie: argmax takes the first (class 0); segment 2's argmax is class 1.
  np.testing.assert_array_equal(grown[0, :, 1], [1, 1, 0, 0])
  np.testing.assert_array_equal(grown[0, :, 2], [0, 0, 1, 1])


def test_argmax_is_over_background_and_labelled_classes_only():
  # Class 1 is not a label of the video: its large value must not block class 0.
  heat = _heatmap([(0.05, 0.45, 0.5), (0.05, 0.45, 0.5)])
  seeds = _seeds(2, 3, [(0, 0, 1), (0, 1, 2)])
  grown = _run(heat, seeds, [[1, 0]], theta_fg=0.4)
  np.testing.assert_array_equal(grown[0, :, 1], [1, 1])
  np.testing.assert_array_equal(grown[0, :, 2], [0, 0])  # seeds of unlabelled class ignored


def test_padding_never_grows_nor_seeds():
  heat = _heatmap([Q, Q, Q, Q])
  seeds = _seeds(4, 2, [(0, 1, 1), (0, 3, 1)])
  grown = _run(heat, seeds, [[1]], mask=[[1, 1, 0, 0]])
  np.testing.assert_array_equal(grown[0, :, 1], [1, 1, 0, 0])


def test_batch_videos_are_independent_and_runs_do_not_cross_rows():
  heat = np.stack([_heatmap([Q, Q, Q])[0], _heatmap([Q, N, Q])[0]])
  seeds = _seeds(3, 2, [(0, 2, 1), (1, 0, 1)], batch=2)
  grown = _run(heat, seeds, [[1], [1]])
  np.testing.assert_array_equal(grown[:, :, 1], [[1, 1, 1], [1, 0, 0]])


def test_fixed_point_property_on_random_heatmaps():
  """Growing again from the grown region changes nothing, and the result matches a
  straightforward iterative reference (Algorithm 1 repeated until stable)."""
  rng = np.random.default_rng(0)
  batch, length, channels = 3, 40, 4
  logits = rng.normal(size=[batch, length, channels]) * 3
  heat = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
  seeds = (rng.random([batch, length, channels]) < 0.05).astype(np.float32)
  labels = np.array([[1, 0, 1], [1, 1, 1], [0, 1, 0]], np.float32)
  mask = np.ones([batch, length], np.float32)
  mask[1, 30:] = 0
  grown = _run(heat, seeds, labels, mask, theta_fg=0.5, theta_bg=0.5)
  again = _run(heat, grown, labels, mask, theta_fg=0.5, theta_bg=0.5)
  np.testing.assert_array_equal(grown, again)

  allowed = np.concatenate([np.ones([batch, 1]), labels], 1) > 0
  expected = np.zeros_like(grown)
  for b in range(batch):
    restricted = np.where(allowed[b], heat[b], -1)
    arg = restricted.argmax(-1)
    for c in range(channels):
      if not allowed[b, c]:
        continue
      q = (heat[b, :, c] >= 0.5) & (arg == c) & (mask[b] > 0)
      region = (seeds[b, :, c] > 0) & (mask[b] > 0)
      while True:
        grow_left = np.r_[region[1:], False] & q
        grow_right = np.r_[False, region[:-1]] & q
        new = region | grow_left | grow_right
        if (new == region).all():
          break
        region = new
      expected[b, :, c] = region
  np.testing.assert_array_equal(grown, expected)


def test_one_trace_for_all_lengths_and_batch_sizes():
  before = growing.grow.experimental_get_tracing_count()
  for batch, length in [(1, 7), (2, 50), (3, 400)]:
    _run(np.full([batch, length, 3], 1 / 3), np.zeros([batch, length, 3]),
         np.ones([batch, 2]))
  assert growing.grow.experimental_get_tracing_count() - before <= 1


def test_no_gradient_flows_through_growing():
  heat = tf.Variable(_heatmap([Q, Q, N]))
  with tf.GradientTape() as tape:
    out = growing.grow(heat, tf.constant(_seeds(3, 2, [(0, 0, 1)])), tf.ones([1, 3]),
                       tf.ones([1, 1]), tf.constant(0.9), tf.constant(0.9))
    total = tf.reduce_sum(out * heat)
  grad = tape.gradient(total, heat)
  # Only the explicit product carries gradient: d/dheat = out, never through grow itself.
  np.testing.assert_array_equal(grad.numpy(), out.numpy())


def test_label_softmax_renormalises_over_background_and_the_video_labels():
  # Channels: bg, class 0, class 1, class 2; the video is labelled with class 1 only.
  logits = np.log(np.array([[[0.2, 0.5, 0.2, 0.1]]], np.float32))
  got = growing.label_softmax(tf.constant(logits), tf.constant([[0.0, 1.0, 0.0]])).numpy()
  # Over {bg, class 1}: 0.2 / 0.4 and 0.2 / 0.4; the other classes get 0.
  np.testing.assert_allclose(got[0, 0], [0.5, 0.0, 0.5, 0.0], atol=1e-6)


def test_growth_under_the_label_softmax_reaches_what_the_full_softmax_cannot():
  # A non-core action snippet: class 0 at 0.6, an absent class at 0.35, background 0.05. Under
  # the softmax over all channels it cannot reach theta_g = 0.9; over {bg, class 0} it is at
  # 0.6 / 0.65 = 0.923 and grows from the seed next to it.
  probs = np.array([[[0.02, 0.97, 0.01], [0.05, 0.6, 0.35], [0.9, 0.05, 0.05]]], np.float32)
  seeds = _seeds(3, 3, [(0, 0, 1)])
  labels = [[1.0, 0.0]]
  full = _run(probs, seeds, labels, theta_fg=0.9)
  np.testing.assert_array_equal(full[0, :, 1], [1, 0, 0])
  restricted = growing.label_softmax(tf.constant(np.log(probs)), tf.constant(labels)).numpy()
  grown = _run(restricted, seeds, labels, theta_fg=0.9)
  np.testing.assert_array_equal(grown[0, :, 1], [1, 1, 0])
  np.testing.assert_array_equal(grown[0, :, 2], [0, 0, 0])


def test_class_vs_background_is_the_label_softmax_of_each_class_alone():
  # Channels: bg, class 0, class 1, class 2 at probabilities 0.2, 0.5, 0.2, 0.1: class 0 against
  # the background is 0.5 / 0.7, class 1 0.2 / 0.4, class 2 0.1 / 0.3; the background channel is
  # 1 - the largest of them.
  logits = np.log(np.array([[[0.2, 0.5, 0.2, 0.1]]], np.float32))
  got = growing.class_vs_background(tf.constant(logits)).numpy()
  np.testing.assert_allclose(got[0, 0], [1 - 5 / 7, 5 / 7, 0.5, 1 / 3], rtol=1e-5)
  for c in range(3):  # each class channel is what label_softmax gives a video of c alone
    alone = growing.label_softmax(tf.constant(logits), tf.one_hot([c], 3)).numpy()
    np.testing.assert_allclose(got[0, 0, c + 1], alone[0, 0, c + 1], rtol=1e-5)
