"""Tests of location prediction (paper 3.5, eq. 6): assg_tf/proposals.py.

Hand-made heatmaps with exact expected detections, and a straightforward loop implementation
(`reference_detect`) that `detect` must agree with on random heatmaps.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from assg_tf import proposals
from assg_tf.config import PredictConfig

DELTA = 0.64


def _cfg(**kwargs) -> PredictConfig:
  # Eq. 6's mean score, hard NMS and a cap of 100 unless a test says otherwise: the exact values
  # below are computed for them (the defaults' contrast score and Soft-NMS have their own tests).
  return dataclasses.replace(
      PredictConfig(proposal_score="mean", soft_nms_sigma=0.0, max_detections=100), **kwargs)


def _detect(fused, num_segments, video_scores, cfg=None, delta=DELTA, **kwargs):
  fused = np.asarray(fused, np.float32)
  batch = fused.shape[0]
  out = proposals.detect(fused, np.asarray(num_segments, np.int32),
                         np.asarray(video_scores, np.float32),
                         np.full([batch], delta, np.float32), cfg or PredictConfig(), **kwargs)
  return {key: value.numpy() for key, value in out.items()}


def _detect_function(cfg, max_candidates_per_class=proposals.MAX_CANDIDATES_PER_CLASS):
  """`proposals.detect` traced with dynamic batch, time and classes, as inside the SavedModel."""
  proposals.check_config(cfg)  # before tracing, as Predictor

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, None], tf.float32, name="fused"),
      tf.TensorSpec([None], tf.int32, name="num_segments"),
      tf.TensorSpec([None, None], tf.float32, name="video_scores"),
      tf.TensorSpec([None], tf.float32, name="seconds_per_segment"),
  ])
  def detect_fn(fused, num_segments, video_scores, seconds_per_segment):
    return proposals.detect(fused, num_segments, video_scores, seconds_per_segment, cfg,
                            max_candidates_per_class)

  return detect_fn


def _one_class(values, length=None, num_classes=1):
  """A [1, T, C+1] heatmap whose class 0 channel holds `values` (all else 0)."""
  values = np.asarray(values, np.float32)
  fused = np.zeros([1, length or len(values), num_classes + 1], np.float32)
  fused[0, :len(values), 1] = values
  return fused


def _detections(out, b=0):
  """[(class, start_s, end_s, score)] of video b, in output order."""
  n = out["num_detections"][b]
  return [(int(c), float(s), float(e), float(p)) for c, (s, e), p in zip(
      out["detection_classes"][b, :n], out["detection_segments"][b, :n],
      out["detection_scores"][b, :n])]


# ---------------------------------------------------------------------------------------------
# A straightforward reference: loops over videos, classes, levels and time.


def _tiou(a, b):
  """tIoU of inclusive segment-index runs (segment t covers [t, t + 1))."""
  inter = max(0, min(a[1], b[1]) + 1 - max(a[0], b[0]))
  union = (a[1] - a[0] + 1) + (b[1] - b[0] + 1) - inter
  return inter / union


def reference_detect(fused, num_segments, video_scores, deltas, cfg, cap=None):
  """[[(class, start_s, end_s, score)] per video], sorted by decreasing score (eq. 6's mean
  proposal score; hard NMS, or Soft-NMS when cfg.soft_nms_sigma > 0)."""
  results = []
  for b in range(fused.shape[0]):
    length = int(num_segments[b])
    scores = video_scores[b]
    top = int(np.argmax(scores))
    kept = []
    for c in range(scores.shape[0]):
      if not (scores[c] >= np.float32(cfg.class_threshold) or c == top):
        continue
      heat = fused[b, :, c + 1]
      candidates = []
      for level in cfg.proposal_thresholds:
        level = np.float32(level)
        t = 0
        while t < length:
          if heat[t] >= level:
            start = t
            while t < length and heat[t] >= level:
              t += 1
            run = heat[start:t].astype(np.float64)
            candidates.append((float(run.mean()), start, t - 1))
          else:
            t += 1
      candidates.sort(key=lambda x: -x[0])
      if cap is not None:
        candidates = candidates[:cap]
      class_kept = []
      if cfg.soft_nms_sigma > 0:  # Gaussian Soft-NMS; eq. 6 scores are >= 0 (lowest 0)
        while candidates and len(class_kept) < cfg.max_detections:
          best = max(range(len(candidates)), key=lambda i: candidates[i][0])
          score, start, end = candidates.pop(best)
          class_kept.append((score, start, end))
          candidates = [
              (p * np.exp(-_tiou((s, e), (start, end)) ** 2 / cfg.soft_nms_sigma), s, e)
              for p, s, e in candidates if _tiou((s, e), (start, end)) < 1.0]
      else:
        for score, start, end in candidates:
          if all(_tiou((start, end), (s, e)) <= cfg.nms_threshold for _, s, e in class_kept):
            class_kept.append((score, start, end))
      kept.extend((c, start, end, score) for score, start, end in class_kept)
    kept.sort(key=lambda x: -x[3])
    kept = kept[:cfg.max_detections]
    delta = np.float32(deltas[b])
    results.append([(c, float(np.float32(s) * delta), float(np.float32(e + 1) * delta), p)
                    for c, s, e, p in kept])
  return results


def _random_batch(seed, batch=3, max_length=60, num_classes=5):
  """Smooth random heatmaps (softmax of random walks), random lengths and video scores."""
  rng = np.random.default_rng(seed)
  length = max_length
  logits = np.cumsum(rng.normal(0.0, 0.7, [batch, length, num_classes + 1]), axis=1)
  logits[..., 0] += rng.normal(0.0, 1.0)
  fused = np.exp(logits - logits.max(-1, keepdims=True))
  fused = (fused / fused.sum(-1, keepdims=True)).astype(np.float32)
  num_segments = rng.integers(1, length + 1, size=batch).astype(np.int32)
  num_segments[0] = length
  video_scores = rng.dirichlet(np.full(num_classes, 0.5), size=batch).astype(np.float32)
  deltas = rng.uniform(0.3, 2.0, size=batch).astype(np.float32)
  return fused, num_segments, video_scores, deltas


def _assert_same_detections(got, want):
  """Same detections up to the order of equal scores, scores to float32 precision."""
  assert len(got) == len(want)
  key = lambda d: (d[0], round(d[1], 4), round(d[2], 4))
  got, want = sorted(got, key=key), sorted(want, key=key)
  for g, w in zip(got, want):
    assert g[0] == w[0]
    np.testing.assert_allclose(g[1:3], w[1:3], rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(g[3], w[3], rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# Class selection (fusion is model.fuse_streams, tested in test_model.py).


def test_select_classes_threshold_and_top1():
  scores = np.array([[0.05, 0.3, 0.1, 0.2],  # threshold 0.2: classes 1 and 3
                     [0.02, 0.01, 0.03, 0.0],  # nothing reaches it: only the top-1 (2)
                     [0.1, 0.1, 0.0, 0.0]], np.float32)  # tie for top-1: the lowest index
  selected = proposals.select_classes(scores, 0.2).numpy()
  np.testing.assert_array_equal(selected, [[False, True, False, True],
                                           [False, False, True, False],
                                           [True, False, False, False]])


# ---------------------------------------------------------------------------------------------
# Hand-made heatmaps with exact detections.


def test_single_run_exact_segment_and_score():
  cfg = _cfg(proposal_thresholds=(0.5,))
  out = _detect(_one_class([0.0, 0.0, 0.75, 0.5, 1.0, 0.25, 0.0]), [7], [[1.0]], cfg)
  # Run t = 2..4 at 0.5; eq. 6 score = (0.75 + 0.5 + 1.0) / 3; seconds [2 * delta, 5 * delta].
  assert out["num_detections"].tolist() == [1]
  np.testing.assert_allclose(out["detection_segments"][0, 0], [2 * DELTA, 5 * DELTA], rtol=1e-6)
  assert out["detection_scores"][0, 0] == np.float32(2.25 / 3)
  assert out["detection_classes"][0, 0] == 0


def test_two_runs_split_by_one_low_segment():
  cfg = _cfg(proposal_thresholds=(0.5,))
  out = _detect(_one_class([0.75, 0.75, 0.25, 0.5, 1.0]), [5], [[1.0]], cfg)
  # Runs [0, 1] and [3, 4], both of score 0.75 (their order is free).
  assert sorted(_detections(out)) == [(0, 0.0, pytest.approx(2 * DELTA), 0.75),
                                      (0, pytest.approx(3 * DELTA), pytest.approx(5 * DELTA),
                                       0.75)]


def test_run_touching_padding_stops_at_num_segments():
  cfg = _cfg(proposal_thresholds=(0.5,))
  # Real length 4; the padding rows 4..5 are high but must never count.
  fused = _one_class([0.0, 0.0, 0.5, 1.0, 1.0, 1.0])
  out = _detect(fused, [4], [[1.0]], cfg)
  assert out["num_detections"].tolist() == [1]
  np.testing.assert_allclose(out["detection_segments"][0, 0], [2 * DELTA, 4 * DELTA], rtol=1e-6)
  assert out["detection_scores"][0, 0] == 0.75
  # A video whose real part is all low gets nothing from its high padding.
  out = _detect(fused, [2], [[1.0]], cfg)
  assert out["num_detections"].tolist() == [0]


def test_multi_threshold_duplicates_removed_by_nms():
  # The same run [1, 3] is a proposal at every level 0.1 .. 0.8: one detection remains.
  out = _detect(_one_class([0.0, 0.8, 0.8, 0.8, 0.0]), [5], [[1.0]], PredictConfig())
  assert out["num_detections"].tolist() == [1]
  np.testing.assert_allclose(out["detection_segments"][0, 0], [DELTA, 4 * DELTA], rtol=1e-6)
  np.testing.assert_allclose(out["detection_scores"][0, 0], 0.8, rtol=1e-7)


def test_soft_nms_decays_overlapping_proposals_exactly():
  # Slot 0: [0, 4) 0.8, [2, 6) 0.6 (tIoU 1/3 with the first), [10, 12) 0.3 (no overlap), and a
  # copy of [0, 4); slot 1: [2, 6) 0.5. A padding slot (-3) is no proposal.
  starts = tf.constant([[0.0, 2.0, 10.0, 0.0, 0.0]])
  ends = tf.constant([[4.0, 6.0, 12.0, 4.0, 0.0]])
  scores = tf.constant([[[0.8, -3.0], [0.6, 0.5], [0.3, -3.0], [0.7, -3.0], [-3.0, -3.0]]])
  decay = np.exp(-(1.0 / 3.0) ** 2 / 0.5)
  out = proposals.soft_nms(starts, ends, scores, max_detections=6, sigma=0.5, lowest=0.0)
  out = {key: value.numpy() for key, value in out.items()}
  # The copy leaves with the first; slot 1 is alone, so its proposal keeps 0.5.
  assert out["num_detections"].tolist() == [4]
  np.testing.assert_allclose(out["scores"][0], [0.8, 0.5, 0.6 * decay, 0.3, 0, 0], rtol=1e-6)
  assert 0.6 * decay == pytest.approx(0.4804, abs=1e-4)  # below slot 1's 0.5: ranked after it
  assert out["starts"][0].tolist() == [0, 2, 2, 10, 0, 0]
  assert out["ends"][0].tolist() == [4, 6, 6, 12, 0, 0]
  assert out["slots"][0].tolist() == [0, 1, 0, 0, 0, 0]
  # The decay acts above the lowest score a proposal can have: with the contrast's -1, the
  # score -0.2 of [2, 6) becomes -1 + 0.8 * decay (lower), not -0.2 * decay (higher).
  out = proposals.soft_nms(starts[:, :2], ends[:, :2], tf.constant([[[0.2], [-0.2]]]),
                           max_detections=2, sigma=0.5, lowest=-1.0)
  np.testing.assert_allclose(out["scores"][0].numpy(), [0.2, -1.0 + 0.8 * decay], rtol=1e-6)
  assert out["num_detections"].numpy().tolist() == [2]


def test_soft_nms_stops_once_no_remaining_score_can_enter_the_output():
  # Three slots, each a strong proposal and five weak ones (0.1 down to 0.06), all disjoint;
  # 3 detections kept. After one round the three strong ones are kept and every remaining
  # score is below the third of them: the loop stops there, not after 3 rounds.
  starts = tf.constant([[0.0, 10.0, 20.0, 30.0, 40.0, 50.0]])
  ends = starts + 5.0
  strong = tf.constant([[0.9, 0.8, 0.7]])[:, None, :]
  weak = tf.tile(tf.constant([0.1, 0.09, 0.08, 0.07, 0.06])[None, :, None], [1, 1, 3])
  scores = tf.concat([strong, weak], axis=1)
  out = proposals.soft_nms(starts, ends, scores, max_detections=3, sigma=0.5, lowest=0.0)
  assert int(out["rounds"]) == 1
  np.testing.assert_allclose(out["scores"][0].numpy(), [0.9, 0.8, 0.7], rtol=1e-6)
  assert out["slots"][0].numpy().tolist() == [0, 1, 2]
  # Four detections: a 0.1 can enter, so a second round keeps each slot's 0.1; then the
  # remaining 0.09 are below the fourth kept (0.1), and the loop stops after 2 rounds of 4.
  # Of the three 0.1, the lowest slot's comes first, as without the early stop.
  out = proposals.soft_nms(starts, ends, scores, max_detections=4, sigma=0.5, lowest=0.0)
  assert int(out["rounds"]) == 2
  np.testing.assert_allclose(out["scores"][0].numpy(), [0.9, 0.8, 0.7, 0.1], rtol=1e-6)
  assert out["slots"][0].numpy().tolist() == [0, 1, 2, 0]
  assert out["starts"][0].numpy().tolist() == [0, 0, 0, 10]


def test_soft_nms_keeps_what_hard_nms_removes_ranked_lower():
  # Level 0.25: run [0, 2], score 2/3; level 0.625: run [1, 2], score 0.75; tIoU 2/3. Hard NMS at
  # 0.5 keeps one; Soft-NMS keeps both, the second decayed by exp(-(2/3)^2 / 0.5).
  fused = _one_class([0.5, 0.75, 0.75])
  out = _detect(fused, [3], [[1.0]], _cfg(proposal_thresholds=(0.25, 0.625), soft_nms_sigma=0.5))
  assert _detections(out) == [
      (0, pytest.approx(DELTA), pytest.approx(3 * DELTA), 0.75),
      (0, 0.0, pytest.approx(3 * DELTA), pytest.approx(2 / 3 * np.exp(-(2 / 3) ** 2 / 0.5)))]


def test_overlapping_proposals_suppressed_above_nms_threshold_only():
  # Level 0.25: run [0, 2], score (0.5 + 0.75 + 0.75) / 3. Level 0.625: run [1, 2], score 0.75.
  # Their tIoU is 2/3.
  fused = _one_class([0.5, 0.75, 0.75])
  high = (0, pytest.approx(DELTA), pytest.approx(3 * DELTA), 0.75)
  low = (0, 0.0, pytest.approx(3 * DELTA), pytest.approx(2.0 / 3.0))
  suppressed = _detect(fused, [3], [[1.0]], _cfg(proposal_thresholds=(0.25, 0.625),
                                                  nms_threshold=0.5))
  assert _detections(suppressed) == [high]
  kept = _detect(fused, [3], [[1.0]], _cfg(proposal_thresholds=(0.25, 0.625),
                                            nms_threshold=0.7))
  assert _detections(kept) == [high, low]


def test_tiou_exactly_at_nms_threshold_is_kept():
  # Runs [0, 1] (score 0.6875) and [1, 1] (score 0.875): tIoU exactly 1/2.
  fused = _one_class([0.5, 0.875])
  cfg = _cfg(proposal_thresholds=(0.25, 0.75))
  assert _detect(fused, [2], [[1.0]], dataclasses.replace(cfg, nms_threshold=0.5))[
      "num_detections"].tolist() == [2]
  assert _detect(fused, [2], [[1.0]], dataclasses.replace(cfg, nms_threshold=0.49))[
      "num_detections"].tolist() == [1]


def test_class_not_selected_gives_nothing_and_top1_always_selected():
  fused = np.zeros([1, 4, 4], np.float32)
  fused[0, 0:2, 1] = 0.9  # class 0: selected by its score
  fused[0, 2:4, 2] = 0.9  # class 1: score below the threshold and not top-1
  fused[0, 1:3, 3] = 0.9  # class 2
  cfg = _cfg(proposal_thresholds=(0.5,), class_threshold=0.3)
  out = _detect(fused, [4], [[0.6, 0.2, 0.3]], cfg)
  assert sorted(out["detection_classes"][0, :out["num_detections"][0]].tolist()) == [0, 2]
  # No class reaches the threshold: the top-1 (class 1) is still localised, alone.
  out = _detect(fused, [4], [[0.1, 0.2, 0.15]], cfg)
  assert _detections(out) == [(1, pytest.approx(2 * DELTA), pytest.approx(4 * DELTA),
                               pytest.approx(0.9))]


def test_eq6_score_is_the_exact_mean():
  values = [0.125, 0.25, 0.5, 1.0, 0.375]
  out = _detect(_one_class(values), [5], [[1.0]], _cfg(proposal_thresholds=(0.1,)))
  assert out["detection_scores"][0, 0] == np.float32(np.mean(values))  # 0.45


def test_seconds_conversion_with_delta_064():
  cfg = _cfg(proposal_thresholds=(0.5,))
  out = _detect(_one_class([0.0] * 10 + [0.9] * 5 + [0.0] * 5), [20], [[1.0]], cfg, delta=0.64)
  # Segments 10..14 cover [10 * 0.64, 15 * 0.64) seconds.
  np.testing.assert_allclose(out["detection_segments"][0, 0], [6.4, 9.6], rtol=1e-6)


def test_single_segment_video_and_nothing_above_any_level():
  out = _detect(_one_class([0.75]), [1], [[1.0]], _cfg(proposal_thresholds=(0.5,)))
  assert _detections(out) == [(0, 0.0, pytest.approx(DELTA), 0.75)]
  fused = np.zeros([2, 5, 3], np.float32)
  fused[1, 1:3, 2] = 0.95
  out = _detect(fused, [5, 5], [[0.5, 0.5], [0.5, 0.5]], PredictConfig())
  assert out["num_detections"].tolist() == [0, 1]
  k = PredictConfig().max_detections
  assert out["detection_segments"].shape == (2, k, 2)
  assert out["detection_scores"].shape == (2, k) and out["detection_classes"].shape == (2, k)
  assert not out["detection_segments"][0].any() and not out["detection_scores"][0].any()
  assert out["detection_classes"].dtype == np.int32 and out["num_detections"].dtype == np.int32


def test_max_detections_keeps_best_and_pads_with_zeros():
  # Four separate runs of one class, scores 0.6, 0.9, 0.7, 0.8; keep the best 2.
  values = [0.6, 0.0, 0.9, 0.0, 0.7, 0.0, 0.8]
  out = _detect(_one_class(values), [7], [[1.0]],
                _cfg(proposal_thresholds=(0.5,), max_detections=2))
  assert out["detection_scores"].shape == (1, 2)
  np.testing.assert_allclose(out["detection_scores"][0], [0.9, 0.8], rtol=1e-7)
  np.testing.assert_allclose(out["detection_segments"][0], [[2 * DELTA, 3 * DELTA],
                                                            [6 * DELTA, 7 * DELTA]], rtol=1e-6)
  out = _detect(_one_class(values), [7], [[1.0]],
                _cfg(proposal_thresholds=(0.5,), max_detections=6))
  assert out["num_detections"].tolist() == [4]
  assert not out["detection_segments"][0, 4:].any() and not out["detection_scores"][0, 4:].any()


def test_candidate_cap_keeps_the_best_proposals_per_class():
  fused = np.zeros([1, 7, 3], np.float32)
  fused[0, :, 1] = [0.6, 0.0, 0.9, 0.0, 0.7, 0.0, 0.8]
  fused[0, :, 2] = [0.0, 0.55, 0.0, 0.0, 0.0, 0.65, 0.0]
  cfg = _cfg(proposal_thresholds=(0.5,))
  out = _detect(fused, [7], [[0.5, 0.5]], cfg, max_candidates_per_class=1)
  got = sorted((c, round(p, 6)) for c, _, _, p in _detections(out))
  assert got == [(0, 0.9), (1, 0.65)]
  with pytest.raises(ValueError, match="max_candidates_per_class"):
    _detect(fused, [7], [[0.5, 0.5]], cfg, max_candidates_per_class=0)


# ---------------------------------------------------------------------------------------------
# Batching, agreement with the reference, tracing, serving.


def test_batch_of_two_lengths_equals_each_video_alone():
  fused, _, video_scores, deltas = _random_batch(seed=3, batch=2, max_length=40)
  num_segments = np.array([40, 23], np.int32)
  fused[1, 23:] = 1.0  # padding that would produce proposals if it were read
  cfg = PredictConfig()
  fn = _detect_function(cfg)
  both = fn(fused, num_segments, video_scores, deltas)
  for b in range(2):
    t = int(num_segments[b])
    alone = fn(fused[b:b + 1, :t], num_segments[b:b + 1], video_scores[b:b + 1],
               deltas[b:b + 1])
    for key in proposals.OUTPUT_KEYS:
      np.testing.assert_allclose(both[key].numpy()[b], alone[key].numpy()[0], rtol=1e-6)
  assert both["num_detections"].numpy().min() > 0


# Per seed: hard NMS at these tIoU thresholds, or Soft-NMS with these sigmas.
NMS_SETTINGS = {"hard": ("nms_threshold", [0.5, 0.3, 0.7, 0.5]),
                "soft": ("soft_nms_sigma", [0.5, 0.1, 1.0, 0.5])}


@pytest.mark.parametrize("nms", sorted(NMS_SETTINGS))
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_agrees_with_reference_on_random_heatmaps(seed, nms):
  fused, num_segments, video_scores, deltas = _random_batch(seed)
  field, values = NMS_SETTINGS[nms]
  cfg = _cfg(class_threshold=0.2, max_detections=[100, 6, 20, 3][seed], **{field: values[seed]})
  out = _detect_function(cfg)(fused, num_segments, video_scores, deltas)
  out = {key: value.numpy() for key, value in out.items()}
  want = reference_detect(fused, num_segments, video_scores, deltas, cfg)
  assert sum(len(w) for w in want) > 3 * (seed != 3)
  for b in range(fused.shape[0]):
    _assert_same_detections(_detections(out, b), want[b])


def test_agrees_with_reference_under_a_candidate_cap():
  fused, num_segments, video_scores, deltas = _random_batch(seed=7, max_length=80)
  cfg = _cfg(class_threshold=0.2)
  out = _detect_function(cfg, max_candidates_per_class=4)(
      fused, num_segments, video_scores, deltas)
  out = {key: value.numpy() for key, value in out.items()}
  want = reference_detect(fused, num_segments, video_scores, deltas, cfg, cap=4)
  for b in range(fused.shape[0]):
    _assert_same_detections(_detections(out, b), want[b])


def test_no_retracing_across_lengths_and_batch_sizes():
  fn = _detect_function(PredictConfig())
  for seed, (batch, length) in enumerate([(1, 50), (1, 300), (4, 120)]):
    fused, num_segments, video_scores, deltas = _random_batch(seed, batch, length)
    out = fn(fused, num_segments, video_scores, deltas)
    assert out["detection_segments"].shape == (batch, PredictConfig().max_detections, 2)
  assert fn.experimental_get_tracing_count() == 1


def test_saved_model_round_trip(tmp_path):
  cfg = _cfg(max_detections=10)
  module = tf.Module()
  module.detect = _detect_function(cfg)
  tf.saved_model.save(module, str(tmp_path / "detect"))
  loaded = tf.saved_model.load(str(tmp_path / "detect"))
  fused, num_segments, video_scores, deltas = _random_batch(seed=5)
  want = module.detect(fused, num_segments, video_scores, deltas)
  got = loaded.detect(fused, num_segments, video_scores, deltas)
  for key in proposals.OUTPUT_KEYS:
    np.testing.assert_array_equal(got[key].numpy(), want[key].numpy())


# ---------------------------------------------------------------------------------------------
# Bad input and the results dict.


def test_bad_inputs_and_config_raise_clear_errors():
  fused = np.zeros([1, 4, 3], np.float32)
  with pytest.raises(ValueError, match="3 channels but video_scores has 3 classes"):
    _detect(fused, [4], [[0.1, 0.2, 0.3]])
  with pytest.raises(ValueError, match="video_scores must have rank 2"):
    _detect(fused, [4], [0.1, 0.2])
  with pytest.raises(tf.errors.InvalidArgumentError, match="must not exceed"):
    _detect(fused, [5], [[0.1, 0.2]])
  with pytest.raises(tf.errors.InvalidArgumentError, match="batch size"):
    _detect(fused, [4, 4], [[0.1, 0.2]])
  with pytest.raises(ValueError, match=r"proposal_thresholds.*\[0, 1\].*1.5"):
    _detect(fused, [4], [[0.1, 0.2]], _cfg(proposal_thresholds=(0.5, 1.5)))
  with pytest.raises(ValueError, match="at least one level"):
    _detect(fused, [4], [[0.1, 0.2]], _cfg(proposal_thresholds=()))
  with pytest.raises(ValueError, match="max_detections"):
    _detect_function(_cfg(max_detections=0))
  with pytest.raises(ValueError, match=r"soft_nms_sigma must be >= 0 \(0: hard NMS\), got -0.5"):
    _detect_function(_cfg(soft_nms_sigma=-0.5))
  fn = _detect_function(PredictConfig())
  with pytest.raises(tf.errors.InvalidArgumentError, match=r"at least one segment \(T >= 1\)"):
    fn(np.zeros([1, 0, 3], np.float32), np.array([0], np.int32), np.zeros([1, 2], np.float32),
       np.ones([1], np.float32))
  with pytest.raises(tf.errors.InvalidArgumentError, match="C \\+ 1 channels"):
    fn(fused, np.array([4], np.int32), np.zeros([1, 5], np.float32),
       np.ones([1], np.float32))


def test_to_results_builds_the_activitynet_dict():
  outputs = {
      "detection_segments": np.array([[[1.28, 3.2], [0.0, 0.64], [0, 0]],
                                      [[0, 0], [0, 0], [0, 0]]], np.float32),
      "detection_scores": np.array([[0.9, 0.5, 0.0], [0, 0, 0]], np.float32),
      "detection_classes": np.array([[1, 0, 0], [0, 0, 0]], np.int32),
      "num_detections": np.array([2, 0], np.int32),
  }
  results = proposals.to_results(outputs, [b"video_a", "video_b"], ["Diving", "HighJump"],
                                 durations=[3.0, 10.0])
  assert list(results) == ["video_a", "video_b"]
  assert results["video_b"] == []
  (first, second) = results["video_a"]
  assert first["label"] == "HighJump" and second["label"] == "Diving"
  np.testing.assert_allclose(first["segment"], [1.28, 3.0], rtol=1e-6)  # clipped to duration
  np.testing.assert_allclose(second["segment"], [0.0, 0.64], rtol=1e-6)
  np.testing.assert_allclose([first["score"], second["score"]], [0.9, 0.5], rtol=1e-6)
  assert all(isinstance(v, float) for v in first["segment"] + [first["score"]])
  with pytest.raises(ValueError, match="1 video ids for a batch of 2"):
    proposals.to_results(outputs, ["video_a"], ["Diving", "HighJump"])
  with pytest.raises(ValueError, match="class 1, outside the 1 class names"):
    proposals.to_results(outputs, ["a", "b"], ["Diving"])
  with pytest.raises(ValueError, match="lack"):
    proposals.to_results({"num_detections": np.zeros(2)}, ["a", "b"], ["Diving"])


def test_to_results_of_detect_outputs():
  out = _detect(_one_class([0.0, 0.9, 0.9]), [3], [[1.0]], _cfg(proposal_thresholds=(0.5,)))
  results = proposals.to_results(out, ["v"], ["Shotput"])
  assert len(results["v"]) == 1
  assert results["v"][0]["label"] == "Shotput"
  np.testing.assert_allclose(results["v"][0]["segment"], [DELTA, 3 * DELTA], rtol=1e-6)
  np.testing.assert_allclose(results["v"][0]["score"], 0.9, rtol=1e-6)


def test_eq6_score_of_a_short_run_at_the_end_of_a_long_video_is_exact():
  # 30,000 segments at 0.3 before a one-segment run at 0.7: float32 prefix sums (~9,000 at the
  # end, spacing ~1e-3) could not give 0.7 to 1e-6.
  values = np.full([30000], 0.3, np.float32)
  values[-2] = 0.7
  out = _detect(_one_class(values), [30000], [[1.0]], _cfg(proposal_thresholds=(0.5,)))
  assert out["num_detections"].tolist() == [1]
  np.testing.assert_allclose(out["detection_scores"][0, 0], 0.7, rtol=1e-6)
  np.testing.assert_allclose(out["detection_segments"][0, 0], [29998 * DELTA, 29999 * DELTA],
                             rtol=1e-6)


def test_contrast_score_prefers_the_whole_action_over_its_peak():
  # One class; a peak (0.9) inside a plateau (0.6) surrounded by background (0.0).
  values = np.array([0.0] * 4 + [0.6] * 4 + [0.9] * 2 + [0.6] * 4 + [0.0] * 6, np.float32)
  fused = np.stack([1.0 - values, values], -1)[None]
  base = PredictConfig(class_threshold=0.0, proposal_thresholds=(0.5, 0.8),
                       nms_threshold=0.9, soft_nms_sigma=0.0, max_detections=5)
  outs = {}
  for score in ("mean", "contrast"):
    cfg = dataclasses.replace(base, proposal_score=score)
    out = proposals.detect(tf.constant(fused), tf.constant([20]), tf.constant([[1.0]]),
                           tf.constant([1.0]), cfg)
    n = int(out["num_detections"][0])
    outs[score] = [(tuple(out["detection_segments"][0, i].numpy()),
                    float(out["detection_scores"][0, i])) for i in range(n)]
  # Mean (eq. 6): the peak [8, 10) scores 0.9, the whole action [4, 14) 0.66: peak first.
  assert outs["mean"][0][0] == (8.0, 10.0)
  assert outs["mean"][0][1] == pytest.approx(0.9)
  assert outs["mean"][1][1] == pytest.approx(0.66)
  # Contrast: peak 0.9 - 0.6 (band of 1 each side) = 0.3; action 0.66 - 0 (bands of 3) = 0.66.
  assert outs["contrast"][0][0] == (4.0, 14.0)
  assert outs["contrast"][0][1] == pytest.approx(0.66)
  assert outs["contrast"][1][1] == pytest.approx(0.3)


def test_unknown_proposal_score_is_refused():
  with pytest.raises(ValueError, match="proposal_score must be one of"):
    proposals.detect(tf.zeros([1, 3, 2]), tf.constant([3]), tf.ones([1, 1]), tf.ones([1]),
                     PredictConfig(proposal_score="max"))


def test_video_score_weight_adds_the_class_score_to_every_proposal():
  # Two videos with the same run; the one whose class score is higher ranks first.
  values = np.array([0.0, 0.8, 0.8, 0.0], np.float32)
  fused = np.stack([np.stack([1.0 - values, values], -1)] * 2)
  scores = np.array([[0.2], [0.9]], np.float32)
  cfg = PredictConfig(class_threshold=0.0, proposal_thresholds=(0.5,), proposal_score="mean",
                      video_score_weight=0.5, max_detections=3)
  out = proposals.detect(tf.constant(fused), tf.constant([4, 4]), tf.constant(scores),
                         tf.constant([1.0, 1.0]), cfg)
  np.testing.assert_allclose(out["detection_scores"][:, 0].numpy(), [0.8 + 0.1, 0.8 + 0.45],
                             rtol=1e-6)
  with pytest.raises(ValueError, match="video_score_weight must be >= 0"):
    proposals.detect(tf.constant(fused), tf.constant([4, 4]), tf.constant(scores),
                     tf.constant([1.0, 1.0]), dataclasses.replace(cfg, video_score_weight=-1))


def test_smooth_is_the_mean_over_the_real_segments_of_the_window():
  # Video of 4 real segments, then one padding row whose 6 must be ignored.
  heat = np.array([[[0.0], [3.0], [0.0], [3.0], [6.0]]], np.float32)
  got = proposals.smooth(heat, tf.constant([4]), 3).numpy()[0, :, 0]
  np.testing.assert_allclose(got, [1.5, 1.0, 2.0, 1.5, 0.0], rtol=1e-6)
  np.testing.assert_array_equal(proposals.smooth(heat, tf.constant([4]), 1).numpy(), heat)
  alone = proposals.smooth(heat[:, :4], tf.constant([4]), 3).numpy()[0, :, 0]
  np.testing.assert_allclose(alone, got[:4], rtol=1e-6)  # padding changes nothing
  with pytest.raises(ValueError, match="odd number of segments, got 2"):
    proposals.smooth(heat, tf.constant([4]), 2)
  # A window wider than the video averages all of it, at every segment.
  wide = proposals.smooth(heat, tf.constant([4]), 65).numpy()[0, :, 0]
  np.testing.assert_allclose(wide, [1.5, 1.5, 1.5, 1.5, 0.0], rtol=1e-6)


def test_smoothing_joins_an_instance_broken_by_one_weak_segment():
  fused = _one_class([0.8, 0.8, 0.2, 0.8, 0.8])
  broken = _detections(_detect(fused, [5], [[1.0]], _cfg(proposal_thresholds=(0.5,))))
  assert [(s, e) for _, s, e, _ in broken] == [
      (pytest.approx(0.0), pytest.approx(2 * DELTA)),
      (pytest.approx(3 * DELTA), pytest.approx(5 * DELTA))]
  joined = _detections(_detect(fused, [5], [[1.0]],
                               _cfg(proposal_thresholds=(0.5,), smoothing=3)))
  # Smoothed: 0.8, 0.6, 0.6, 0.6, 0.8; one run, eq. 6 mean 3.4 / 5.
  assert [(c, s, e) for c, s, e, _ in joined] == [
      (0, pytest.approx(0.0), pytest.approx(5 * DELTA))]
  assert joined[0][3] == pytest.approx(0.68)
  with pytest.raises(ValueError, match="smoothing must be an odd number of segments, got 4"):
    _detect(fused, [5], [[1.0]], _cfg(smoothing=4))
