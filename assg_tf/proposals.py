"""Location prediction: multi-threshold proposals, eq. 6 scores, per-class NMS (paper 3.5).

Paper section 3.5 (eq. 6); docs/DESIGN.md "Method" ("Prediction") and "Serving" (the detections
of the serving signature). Everything from the fused heatmap to the detections is TensorFlow graph
code with dynamic batch and time (one trace for every shape), so the same functions are the
Python prediction path and the inside of the exported SavedModel that TF Serving runs.

Steps, with the choices the paper leaves open:

1. Fusion (eq. 6, `model.fuse_streams`): H = lambda * H_rgb + (1 - lambda) * H_flow,
   lambda = 0.3 (paper 4.2).
   Then, when `smoothing` > 1, a moving average over that many segments (`smooth`; not in the
   paper, 1 by default and chosen on validation, selection.py). Everything below reads it.
2. Classes localised in a video: every class whose video-level score is >= `class_threshold`,
   and always the video's top-1 class (ties: the lowest class index).
3. Proposals: for every selected class c and every level theta in `proposal_thresholds`, every
   maximal run of consecutive real segments (t < num_segments) with H[t, c+1] >= theta is a
   proposal [t_start, t_end] (inclusive segment indices). Its score is eq. 6, the mean of
   H[t, c+1] over the run. The same run found at several levels is kept several times; NMS
   removes the copies.
4. Cap: of each (video, class) only the `max_candidates_per_class` best-scoring proposals
   (default `MAX_CANDIDATES_PER_CLASS` = 2048, over all levels together) go on to NMS. This
   bounds the NMS input ([batch, candidates, selected classes] scores) whatever T, C and the
   number of levels are; with fewer proposals than the cap, nothing is dropped (exact result).
5. NMS per class. The paper removes "highly overlapped" proposals (3.5) without saying how.
   * Soft-NMS (`soft_nms_sigma` > 0, the default; `soft_nms`): Gaussian Soft-NMS (Bodla et
     al., ICCV 2017), as temporal proposal methods use it (BSN, BMN). Greedily, the best
     remaining proposal of each class is kept and the others' scores decay by
     exp(-tIoU^2 / sigma). An instance that several levels cut a little differently keeps its
     alternatives, ranked low, and a proposal that overlaps a kept one only partly is not lost:
     at high tIoU thresholds one of them may be the match (docs/RESULTS.md section 1.4).
   * Hard NMS (`soft_nms_sigma` = 0; the paper preset): a proposal is dropped when its tIoU
     with an already kept proposal of the same class is strictly greater than `nms_threshold`
     (a tIoU exactly at the threshold is kept, as in TensorFlow's kernel and the usual WTAL
     numpy NMS). It is one `tf.image.combined_non_max_suppression` call: a run [s, e] is the
     box [0, s, 1, e + 1] (segment t covers [t, t + 1)), whose 2-D IoU is exactly the 1-D tIoU
     since all heights are 1; index units give the same tIoU as seconds (one delta per video).
   Then the `max_detections` best of all classes are kept per video, sorted by score.
6. Seconds: segment t covers [t * delta, (t + 1) * delta), so a detection [t_start, t_end] is
   [t_start * delta, (t_end + 1) * delta] seconds.

Vectorisation: the selected (video, class) pairs are gathered into rows (usually a few per
video) and compared with all levels at once ([pairs, levels, T] booleans, the largest tensor);
`tf.where` lists the run starts and the run ends in the same order, and eq. 6 sums are
differences of float64 prefix sums. No segment ops over [pairs, levels, T] and no loop.
Soft-NMS is one `tf.while_loop` over the detections kept (at most `max_detections`), each
iteration acting on every video and class at once.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from assg_tf.config import PROPOSAL_SCORES, PredictConfig

# Proposals per (video, class), over all levels, that go on to NMS (the best by score).
MAX_CANDIDATES_PER_CLASS = 2048

# Score of the padding slots of the NMS input; real scores are means of probabilities (eq. 6,
# in [0, 1]) or differences of two such means ("contrast", in [-1, 1]), so always above
# `_SCORE_FLOOR`, which the NMS uses as its (strict) score threshold.
_NO_SCORE = -3.0
_SCORE_FLOOR = -2.5
SCORES = PROPOSAL_SCORES

OUTPUT_KEYS = ("detection_segments", "detection_scores", "detection_classes", "num_detections")


def select_classes(video_scores: tf.Tensor, class_threshold: float) -> tf.Tensor:
  """Which classes to localise in each video.

  Args:
    video_scores: float32 [B, C] video-level class scores.
    class_threshold: classes scoring at least this are selected.

  Returns:
    bool [B, C]: score >= class_threshold, or the video's top-1 class (lowest index on ties).
  """
  video_scores = tf.convert_to_tensor(video_scores, tf.float32)
  top = tf.argmax(video_scores, axis=-1, output_type=tf.int32)
  is_top = tf.equal(tf.range(tf.shape(video_scores)[-1])[None, :], top[:, None])
  return (video_scores >= class_threshold) | is_top


def _odd_window(window, what: str) -> int:
  """`window` as an int; ValueError naming `what` unless it is an odd number >= 1."""
  if int(window) < 1 or int(window) % 2 != 1:
    raise ValueError(f"{what} must be an odd number of segments, got {window}.")
  return int(window)


def smooth(heatmaps: tf.Tensor, num_segments: tf.Tensor, window: int) -> tf.Tensor:
  """Moving average of each channel over `window` segments centred on each segment.

  Not in the paper (docs/DESIGN.md, "Departures"): the heatmaps of segment-level networks
  flicker where an action is weak, and a threshold then breaks one instance into fragments;
  averaging over a few segments joins them (docs/RESULTS.md section 1.4 measures it). The mean
  is over the video's real segments only (a window that reaches past either end averages the
  segments it covers), so padding and batching change nothing.

  Args:
    heatmaps: float32 [B, T, K].
    num_segments: int32 [B] real length of each video; later rows are padding.
    window: odd width in segments; 1 returns `heatmaps` unchanged.

  Returns:
    float32 [B, T, K], 0 on padding rows (window 1: `heatmaps` as given).
  """
  window = _odd_window(window, "smoothing window")
  heatmaps = tf.convert_to_tensor(heatmaps, tf.float32)
  if window == 1:
    return heatmaps
  mask = tf.sequence_mask(num_segments, tf.shape(heatmaps)[1], dtype=tf.float32)[..., None]
  # Sums over the window of the real values and of the real segments: "SAME" pads with
  # (window - 1) / 2 zeros on each side, so their ratio is the mean over real segments.
  total = tf.nn.avg_pool1d(heatmaps * mask, window, 1, "SAME")
  count = tf.nn.avg_pool1d(mask, window, 1, "SAME")
  return tf.math.divide_no_nan(total, count) * mask


def proposals(fused: tf.Tensor,
              num_segments: tf.Tensor,
              selected: tf.Tensor,
              thresholds: Sequence[float],
              max_candidates_per_class: int = MAX_CANDIDATES_PER_CLASS,
              score: str = "mean",
              video_scores: Optional[tf.Tensor] = None,
              video_score_weight: float = 0.0) -> Dict[str, tf.Tensor]:
  """Multi-threshold proposals with their eq. 6 scores, packed per video (before NMS).

  Args:
    fused: float32 [B, T, C+1] fused heatmap (channel 0 = background).
    num_segments: int32 [B] real length of each video; later rows are padding.
    selected: bool [B, C] classes to localise (`select_classes`).
    thresholds: the levels theta.
    max_candidates_per_class: of each (video, class), keep only this many best-scoring
      proposals (over all levels).
    score: "mean", eq. 6; or "contrast", eq. 6 minus the mean over the outer band of
      ceil(length / 4) segments on each side of the run (clipped to the video), the
      outer-inner contrast of AutoLoc / W-TALC / BaS-Net. Eq. 6 alone ranks a short fragment at
      an action's peak above the whole action (its mean is higher), so the fragments become
      false positives ranked first; the contrast favours runs whose surroundings are low.
    video_scores: float32 [B, C], needed when `video_score_weight` is not 0.
    video_score_weight: adds this weight times the video-level score of the proposal's class
      to its score (BaS-Net): a proposal of a class the video surely contains ranks above an
      equally contrasted one of a doubtful class, across videos as AP needs. A float, or a
      float32 scalar tensor (one traced function for every weight: `Predictor.with_config`).

  Returns:
    A dict of [B, P] tensors, P = max(1, most proposals of a video): `starts`, `ends` int32
    (inclusive segment indices), `classes` int32 (0-based), `scores` float32 (eq. 6; -1 in
    padding slots), `valid` bool. Within a video, proposals are grouped by class (ascending)
    and sorted by score within a class.
  """
  if not thresholds:
    raise ValueError("proposal_thresholds must name at least one level, got none.")
  if int(max_candidates_per_class) < 1:
    raise ValueError(
        f"max_candidates_per_class must be >= 1, got {max_candidates_per_class}.")
  fused = tf.convert_to_tensor(fused, tf.float32)
  num_segments = tf.convert_to_tensor(num_segments, tf.int32)
  selected = tf.convert_to_tensor(selected, tf.bool)
  batch = tf.shape(fused)[0]
  length = tf.shape(fused)[1]
  levels = tf.constant(thresholds, tf.float32)

  # One row per selected (video, class) pair, ordered by video then class.
  pairs = tf.cast(tf.where(selected), tf.int32)  # [S, 2]
  pair_video, pair_class = pairs[:, 0], pairs[:, 1]
  num_pairs = tf.shape(pairs)[0]
  # values[s, t] = fused[video_s, t, class_s + 1], gathered without transposing the whole
  # heatmap (B * T * C values, the largest input) to time-last.
  grid = tf.stack([num_pairs, length])
  values = tf.gather_nd(fused, tf.stack([
      tf.broadcast_to(pair_video[:, None], grid),
      tf.broadcast_to(tf.range(length)[None, :], grid),
      tf.broadcast_to(pair_class[:, None] + 1, grid)], axis=-1))  # [S, T]
  real = tf.range(length)[None, :] < tf.gather(num_segments, pair_video)[:, None]

  # Every pair at every level: [S, L, T]. A run starts where the previous segment is not above
  # the level and ends where the next one is not. tf.where lists starts and ends in the same
  # (pair, level, time) order, so the k-th start and the k-th end bound the k-th run.
  above = (values[:, None, :] >= levels[None, :, None]) & real[:, None, :]
  previous = tf.pad(above[:, :, :-1], [[0, 0], [0, 0], [1, 0]])
  following = tf.pad(above[:, :, 1:], [[0, 0], [0, 0], [0, 1]])
  run_starts = tf.cast(tf.where(above & ~previous), tf.int32)  # [N, 3]: (pair, level, t)
  run_pair, run_start = run_starts[:, 0], run_starts[:, 2]
  run_end = tf.cast(tf.where(above & ~following)[:, 2], tf.int32)  # [N]

  # Eq. 6: the mean over the run, from float64 prefix sums of each pair's values (exact enough
  # for any T; float32 prefix sums would lose the short runs of long videos).
  prefix = tf.pad(tf.cumsum(tf.cast(values, tf.float64), axis=1), [[0, 0], [1, 0]])  # [S, T+1]
  run_sum = (tf.gather_nd(prefix, tf.stack([run_pair, run_end + 1], axis=1)) -
             tf.gather_nd(prefix, tf.stack([run_pair, run_start], axis=1)))
  run_length = run_end - run_start + 1
  run_score = run_sum / tf.cast(run_length, tf.float64)
  if score == "contrast":
    band = (run_length + 3) // 4
    limit = tf.gather(tf.gather(num_segments, pair_video), run_pair)
    left0 = tf.maximum(run_start - band, 0)
    right1 = tf.minimum(run_end + 1 + band, limit)
    at = lambda t: tf.gather_nd(prefix, tf.stack([run_pair, t], axis=1))
    outer_sum = (at(run_start) - at(left0)) + (at(right1) - at(run_end + 1))
    outer_count = tf.cast((run_start - left0) + (right1 - run_end - 1), tf.float64)
    run_score -= tf.math.divide_no_nan(outer_sum, outer_count)
  elif score != "mean":
    raise ValueError(f"proposal score {score!r}: expected one of {SCORES}")
  run_score = tf.cast(run_score, tf.float32)
  if video_scores is not None:  # weight 0 adds exactly 0: the scores are finite
    pair_score = tf.gather_nd(tf.convert_to_tensor(video_scores, tf.float32), pairs)  # [S]
    run_score += tf.cast(video_score_weight, tf.float32) * tf.gather(pair_score, run_pair)
  elif not isinstance(video_score_weight, (int, float)) or video_score_weight:
    raise ValueError("proposals: video_score_weight needs video_scores")

  # Order the runs by pair, then by decreasing score, and keep the best
  # `max_candidates_per_class` of each pair (over all its levels).
  by_score = tf.argsort(run_score, direction="DESCENDING", stable=True)
  order = tf.gather(by_score, tf.argsort(tf.gather(run_pair, by_score), stable=True))
  run_pair, run_start, run_end, run_score = (
      tf.gather(x, order) for x in (run_pair, run_start, run_end, run_score))
  per_pair = tf.math.unsorted_segment_sum(tf.ones_like(run_pair), run_pair, num_pairs)
  rank = tf.range(tf.shape(run_pair)[0]) - tf.gather(tf.cumsum(per_pair, exclusive=True),
                                                     run_pair)
  keep = rank < int(max_candidates_per_class)

  # Pack the kept proposals per video: [N] -> [B, P]. Pairs are ordered by video, so each
  # video's proposals are contiguous.
  kept_pair = tf.boolean_mask(run_pair, keep)
  kept_video = tf.gather(pair_video, kept_pair)
  kept_class = tf.gather(pair_class, kept_pair)
  kept_start = tf.boolean_mask(run_start, keep)
  kept_end = tf.boolean_mask(run_end, keep)
  kept_score = tf.boolean_mask(run_score, keep)
  counts = tf.math.unsorted_segment_sum(tf.ones_like(kept_video), kept_video, batch)
  width = tf.maximum(tf.reduce_max(tf.concat([counts, [0]], axis=0)), 1)
  position = tf.range(tf.shape(kept_video)[0]) - tf.gather(tf.cumsum(counts, exclusive=True),
                                                           kept_video)
  index = tf.stack([kept_video, position], axis=1)
  shape = tf.stack([batch, width])
  return {
      "starts": tf.scatter_nd(index, kept_start, shape),
      "ends": tf.scatter_nd(index, kept_end, shape),
      "classes": tf.scatter_nd(index, kept_class, shape),
      "scores": tf.tensor_scatter_nd_update(tf.fill(shape, _NO_SCORE), index, kept_score),
      "valid": tf.scatter_nd(index, tf.ones_like(kept_video), shape) > 0,
  }


def soft_nms(starts: tf.Tensor, ends: tf.Tensor, scores: tf.Tensor, max_detections: int,
             sigma: float, lowest: float) -> Dict[str, tf.Tensor]:
  """Gaussian Soft-NMS (Bodla et al., ICCV 2017) of every video and class slot at once.

  For each (video, slot), repeatedly: keep the proposal of highest current score, drop its exact
  copies (tIoU 1: the same run found at several levels), then multiply the current score of
  every other remaining proposal by exp(-tIoU^2 / sigma), tIoU with the one kept. The scores
  decay above `lowest` (the lowest score a proposal can have: the
  contrast score is negative where a run is below its surroundings, and a decay must lower a
  score, not raise it toward 0): score' = lowest + (score - lowest) * decay. Then the
  `max_detections` highest of all slots are kept per video.

  A slot's kept scores never rise from one round to the next (scores only decay), so the loop
  stops as soon as, in every video, the `max_detections` highest scores kept so far all beat
  every score still remaining: later rounds could not enter the output. With many class slots
  per video this ends the loop after a few rounds instead of `max_detections`; the output is
  the same as without the early stop.

  Args:
    starts, ends: float32 [B, P] proposal bounds (ends exclusive; padding slots anything).
    scores: float32 [B, P, Q] score of proposal p in class slot q, `_NO_SCORE` where p is not
      a proposal of slot q.
    max_detections: K, detections kept per video.
    sigma: the Gaussian's width (> 0).
    lowest: see above.

  Returns:
    `starts`, `ends`, `scores` float32 [B, K], `slots` int32 [B, K] (slot of each detection),
    `num_detections` int32 [B]; detections sorted by decayed score, rows past num_detections
    zero; `rounds`, int32 scalar: the rounds the loop ran.
  """
  batch, num_boxes, num_slots = tf.shape(scores)[0], tf.shape(scores)[1], tf.shape(scores)[2]
  max_detections = int(max_detections)
  # Remaining proposals carry their score above `lowest` (>= 0); kept or absent ones -1.
  weight = tf.where(scores > _SCORE_FLOOR, scores - lowest, -1.0)
  lengths = ends - starts
  steps = tf.minimum(max_detections, num_boxes)

  def more(k, weight, top_kept, *_):
    # Go on while, in some video, a remaining score could still enter the output: it is not
    # below the max_detections-th highest kept so far (the lowest of `top_kept`; -1 until that
    # many are kept).
    left = tf.reduce_max(weight, axis=[1, 2])  # [B]; -1: nothing left in the video
    could_enter = (left >= 0.0) & (left >= tf.reduce_min(top_kept, axis=1))
    return (k < 1) | ((k < steps) & tf.reduce_any(could_enter))

  def keep_top(k, top_kept, best_weight):
    # `top_kept` [B, K] holds the K highest kept weights, unordered. Until K are kept it is a
    # buffer filled Q per round (no sort: with few slots that is most rounds), then top-k.
    filled = k * num_slots
    return tf.cond(
        filled + num_slots <= max_detections,
        lambda: tf.reshape(tf.concat([top_kept[:, :filled], best_weight,
                                      top_kept[:, filled + num_slots:]], axis=1),
                           [batch, max_detections]),
        lambda: tf.math.top_k(tf.concat([top_kept, best_weight], axis=1), max_detections,
                              sorted=False).values)

  def step(k, weight, top_kept, kept_weight, kept_index):
    best = tf.argmax(weight, axis=1, output_type=tf.int32)  # [B, Q]
    best_weight = tf.reduce_max(weight, axis=1)  # [B, Q]; -1: nothing left in the slot
    top_kept = keep_top(k, top_kept, best_weight)
    best_start = tf.gather(starts, best, batch_dims=1)[:, None, :]  # [B, 1, Q]
    best_end = tf.gather(ends, best, batch_dims=1)[:, None, :]
    inter = tf.nn.relu(tf.minimum(ends[:, :, None], best_end) -
                       tf.maximum(starts[:, :, None], best_start))  # [B, P, Q]
    tiou = tf.math.divide_no_nan(inter, lengths[:, :, None] + (best_end - best_start) - inter)
    # The kept proposal (tIoU 1 with itself) and its exact copies (the same run found at
    # several levels) leave; a copy is no alternative.
    remaining = (weight >= 0.0) & (tiou < 1.0)
    weight = tf.where(remaining, weight * tf.exp(-tf.square(tiou) / sigma), -1.0)
    return (k + 1, weight, top_kept, kept_weight.write(k, best_weight),
            kept_index.write(k, best))

  # At least one step, so that the stacks below are never empty.
  rounds, _, _, kept_weight, kept_index = tf.while_loop(
      more, step,
      (tf.constant(0), weight, -tf.ones([batch, max_detections]),
       tf.TensorArray(tf.float32, size=0, dynamic_size=True),
       tf.TensorArray(tf.int32, size=0, dynamic_size=True)))
  # [n, B, Q] -> [B, Q * n], slot-major: entry q * n + j is slot q's j-th kept proposal.
  kept_weight = tf.reshape(tf.transpose(kept_weight.stack(), [1, 2, 0]), [batch, -1])
  kept_index = tf.reshape(tf.transpose(kept_index.stack(), [1, 2, 0]), [batch, -1])
  top_weight, top = tf.math.top_k(kept_weight, tf.minimum(max_detections,
                                                          tf.shape(kept_weight)[1]))
  valid = top_weight >= 0.0
  pad = [[0, 0], [0, max_detections - tf.shape(top)[1]]]
  box = tf.gather(kept_index, top, batch_dims=1)
  out = {
      "starts": tf.where(valid, tf.gather(starts, box, batch_dims=1), 0.0),
      "ends": tf.where(valid, tf.gather(ends, box, batch_dims=1), 0.0),
      "scores": tf.where(valid, top_weight + lowest, 0.0),
      "slots": tf.where(valid, top // rounds, 0),
  }
  out = {k: tf.pad(v, pad) for k, v in out.items()}
  out["num_detections"] = tf.reduce_sum(tf.cast(valid, tf.int32), axis=1)
  out["rounds"] = rounds
  return out


def check_config(cfg: PredictConfig) -> None:
  """ValueError naming the field of a PredictConfig that `detect` cannot run with (called
  before tracing, so a bad value fails in Python, not inside a graph)."""
  if not cfg.proposal_thresholds:
    raise ValueError("PredictConfig.proposal_thresholds must name at least one level.")
  for level in cfg.proposal_thresholds:
    if not 0.0 <= float(level) <= 1.0:
      raise ValueError(
          f"PredictConfig.proposal_thresholds must be probabilities in [0, 1], got {level}.")
  if not 0.0 <= float(cfg.nms_threshold) <= 1.0:
    raise ValueError(f"PredictConfig.nms_threshold must be in [0, 1], got {cfg.nms_threshold}.")
  if not float(cfg.soft_nms_sigma) >= 0.0:
    raise ValueError(f"PredictConfig.soft_nms_sigma must be >= 0 (0: hard NMS), got "
                     f"{cfg.soft_nms_sigma}.")
  if cfg.proposal_score not in SCORES:
    raise ValueError(f"PredictConfig.proposal_score must be one of {SCORES}, got "
                     f"{cfg.proposal_score!r}.")
  if not float(cfg.video_score_weight) >= 0.0:
    raise ValueError(f"PredictConfig.video_score_weight must be >= 0, got "
                     f"{cfg.video_score_weight}.")
  if int(cfg.max_detections) < 1:
    raise ValueError(f"PredictConfig.max_detections must be >= 1, got {cfg.max_detections}.")
  _odd_window(cfg.smoothing, "PredictConfig.smoothing")


def _check_inputs(fused, num_segments, video_scores, seconds_per_segment):
  """Static rank checks (ValueError) and in-graph shape checks (InvalidArgumentError)."""
  for name, tensor, rank in (("fused", fused, 3), ("num_segments", num_segments, 1),
                             ("video_scores", video_scores, 2),
                             ("seconds_per_segment", seconds_per_segment, 1)):
    if tensor.shape.rank is not None and tensor.shape.rank != rank:
      raise ValueError(f"detect: {name} must have rank {rank}, got shape {tensor.shape}.")
  channels, classes = fused.shape[-1], video_scores.shape[-1]
  if channels is not None and classes is not None and channels != classes + 1:
    raise ValueError(
        f"detect: fused heatmap has {channels} channels but video_scores has {classes} classes; "
        "expected C + 1 channels (channel 0 = background).")
  batch = tf.shape(fused)[0]
  return [
      tf.debugging.assert_equal(
          tf.shape(fused)[2], tf.shape(video_scores)[1] + 1,
          message="detect: fused heatmap must have C + 1 channels for C video_scores classes"),
      tf.debugging.assert_equal(
          tf.stack([tf.shape(num_segments)[0], tf.shape(video_scores)[0],
                    tf.shape(seconds_per_segment)[0]]), tf.fill([3], batch),
          message="detect: num_segments, video_scores and seconds_per_segment must have the "
          "batch size of the heatmap"),
      tf.debugging.assert_positive(
          tf.shape(fused)[1], message="detect: the heatmap needs at least one segment (T >= 1)"),
      tf.debugging.assert_non_negative(num_segments,
                                       message="detect: num_segments must be >= 0"),
      tf.debugging.assert_less_equal(
          num_segments, tf.shape(fused)[1],
          message="detect: num_segments must not exceed the heatmap's time axis T"),
  ]


def detect(fused: tf.Tensor,
           num_segments: tf.Tensor,
           video_scores: tf.Tensor,
           seconds_per_segment: tf.Tensor,
           cfg: PredictConfig,
           max_candidates_per_class: int = MAX_CANDIDATES_PER_CLASS,
           video_score_weight: Optional[tf.Tensor] = None) -> Dict[str, tf.Tensor]:
  """Detections of a batch of videos from their fused heatmaps (paper 3.5).

  Args:
    fused: float32 [B, T, C+1] fused heatmap (`model.fuse_streams`), channel 0 = background.
    num_segments: int32 [B] real length of each video (later rows are padding).
    video_scores: float32 [B, C] video-level class scores (which classes to localise).
    seconds_per_segment: float32 [B] delta of each video.
    cfg: class_threshold, proposal_thresholds, smoothing, proposal_score,
      soft_nms_sigma / nms_threshold, max_detections.
    max_candidates_per_class: proposals per (video, class) that go on to NMS.
    video_score_weight: a float32 scalar tensor in place of cfg.video_score_weight (which is
      then not used).

  Returns:
    `detection_segments` float32 [B, K, 2] seconds, `detection_scores` float32 [B, K],
    `detection_classes` int32 [B, K] (0-based), `num_detections` int32 [B], K =
    cfg.max_detections; detections sorted by score, rows past num_detections all zero.
  """
  check_config(cfg)
  fused = tf.convert_to_tensor(fused, tf.float32)
  num_segments = tf.convert_to_tensor(num_segments, tf.int32)
  video_scores = tf.convert_to_tensor(video_scores, tf.float32)
  seconds_per_segment = tf.convert_to_tensor(seconds_per_segment, tf.float32)
  checks = _check_inputs(fused, num_segments, video_scores, seconds_per_segment)
  with tf.control_dependencies(checks):
    fused = tf.identity(fused)
  max_detections = int(cfg.max_detections)

  selected = select_classes(video_scores, cfg.class_threshold)
  found = proposals(smooth(fused, num_segments, cfg.smoothing), num_segments, selected,
                    tuple(cfg.proposal_thresholds), max_candidates_per_class,
                    cfg.proposal_score, video_scores,
                    cfg.video_score_weight if video_score_weight is None else video_score_weight)

  # NMS input: proposal bounds [B, P] shared by all classes, and scores [B, P, Q] over the Q
  # (most selected classes of a video) "class slots": slot q of video b is its q-th selected
  # class.
  # Only the selected classes can have proposals, and the kernel's cost grows with the class
  # axis (a per-class pass over all P boxes), so this is C = 200 -> Q = 1-3 on ActivityNet.
  starts = tf.cast(found["starts"], tf.float32)
  ends = tf.cast(found["ends"] + 1, tf.float32)
  selected_int = tf.cast(selected, tf.int32)
  slot_of_class = tf.cumsum(selected_int, axis=1, exclusive=True)  # [B, C]
  num_slots = tf.maximum(tf.reduce_max(tf.reduce_sum(selected_int, axis=1)), 1)
  selected_pairs = tf.cast(tf.where(selected), tf.int32)  # [S, 2]: (video, class)
  class_of_slot = tf.scatter_nd(  # [B, Q]
      tf.stack([selected_pairs[:, 0], tf.gather_nd(slot_of_class, selected_pairs)], axis=1),
      selected_pairs[:, 1], tf.stack([tf.shape(selected)[0], num_slots]))
  slot = tf.gather(slot_of_class, found["classes"], batch_dims=1)  # [B, P]
  own_slot = tf.equal(slot[:, :, None], tf.range(num_slots)[None, None, :])
  slot_scores = tf.where(own_slot & found["valid"][:, :, None], found["scores"][:, :, None],
                         _NO_SCORE)
  if float(cfg.soft_nms_sigma) > 0.0:
    # Scores are >= -1 (contrast) or >= 0 (mean), plus a non-negative video-score term.
    kept = soft_nms(starts, ends, slot_scores, max_detections, float(cfg.soft_nms_sigma),
                    lowest=-1.0 if cfg.proposal_score == "contrast" else 0.0)
    kept_starts, kept_ends, nmsed_scores = kept["starts"], kept["ends"], kept["scores"]
    nmsed_slots, num_detections = kept["slots"], kept["num_detections"]
  else:
    boxes = tf.stack([tf.zeros_like(starts), starts, tf.ones_like(starts), ends], axis=-1)
    nmsed_boxes, nmsed_scores, nmsed_slots, num_detections = (
        tf.image.combined_non_max_suppression(
            boxes[:, :, None, :], slot_scores,
            max_output_size_per_class=max_detections, max_total_size=max_detections,
            iou_threshold=float(cfg.nms_threshold), score_threshold=_SCORE_FLOOR,
            pad_per_class=False, clip_boxes=False))
    kept_starts, kept_ends = nmsed_boxes[:, :, 1], nmsed_boxes[:, :, 3]
  nmsed_classes = tf.gather(class_of_slot, tf.cast(nmsed_slots, tf.int32), batch_dims=1)

  valid = tf.range(max_detections)[None, :] < num_detections[:, None]  # [B, K]
  delta = seconds_per_segment[:, None, None]
  segments = tf.stack([kept_starts, kept_ends], axis=-1) * delta
  return {
      "detection_segments": tf.where(valid[:, :, None], segments, 0.0),
      "detection_scores": tf.where(valid, nmsed_scores, 0.0),
      "detection_classes": tf.where(valid, nmsed_classes, 0),
      "num_detections": tf.cast(num_detections, tf.int32),
  }


def to_results(outputs: Mapping[str, Any],
               video_ids: Sequence[Any],
               class_names: Sequence[str],
               durations: Optional[Sequence[float]] = None) -> Dict[str, List[Dict[str, Any]]]:
  """Turns `detect`'s outputs into the ActivityNet results dict (docs/DESIGN.md "Evaluation",
  "Commands").

  Args:
    outputs: `detect`'s dict, as numpy arrays (tensors are converted).
    video_ids: B video ids (str or bytes, as a tf.string batch gives them).
    class_names: the C class names, index = class.
    durations: optional B video durations in seconds; segment ends are clipped to them (the
      last snippet may run past the end of the video).

  Returns:
    {video_id: [{"label": name, "segment": [start, end], "score": score}, ...]} with every
    video present (an empty list when it has no detection), detections by decreasing score.
  """
  missing = [key for key in OUTPUT_KEYS if key not in outputs]
  if missing:
    raise ValueError(f"to_results: outputs lack {missing}; expected the keys {OUTPUT_KEYS}.")
  segments = np.asarray(outputs["detection_segments"], np.float64)
  scores = np.asarray(outputs["detection_scores"], np.float64)
  classes = np.asarray(outputs["detection_classes"], np.int64)
  counts = np.asarray(outputs["num_detections"], np.int64)
  if len(video_ids) != counts.shape[0]:
    raise ValueError(
        f"to_results: {len(video_ids)} video ids for a batch of {counts.shape[0]} videos.")
  if durations is not None and len(durations) != counts.shape[0]:
    raise ValueError(
        f"to_results: {len(durations)} durations for a batch of {counts.shape[0]} videos.")
  results = {}
  for b, video_id in enumerate(video_ids):
    if isinstance(video_id, bytes):
      video_id = video_id.decode("utf-8")
    video_id = str(video_id)
    n = int(counts[b])
    bad = classes[b, :n][(classes[b, :n] < 0) | (classes[b, :n] >= len(class_names))]
    if bad.size:
      raise ValueError(
          f"to_results: video {video_id} has detection class {int(bad[0])}, outside the "
          f"{len(class_names)} class names.")
    ends = segments[b, :n, 1]
    if durations is not None:
      ends = np.minimum(ends, float(durations[b]))
    results[video_id] = [{
        "label": class_names[int(c)],
        "segment": [float(s), float(e)],
        "score": float(p),
    } for c, s, e, p in zip(classes[b, :n], segments[b, :n, 0], ends, scores[b, :n])]
  return results
