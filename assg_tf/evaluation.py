"""Temporal action localization mAP, as the official ActivityNet detection evaluator computes it.

Implements docs/DESIGN.md "Evaluation" (and the file formats of "Commands") from its algorithm
description:

* Ground truth is the ActivityNet `database` format (`load_ground_truth`); predictions are the
  ActivityNet results format (`load_predictions`, `write_predictions`). Both are held as
  compact numpy arrays (video index, start, end, class index, score), so everything downstream
  is vectorised.
* Per class, predictions are sorted by descending score. Each prediction goes to the unmatched
  ground truth segment of the same video and class with the highest tIoU, if that tIoU is
  >= the threshold (each ground truth segment is used once per threshold); otherwise it is a
  false positive. Predictions of videos without ground truth of that class (including videos
  absent from the ground truth) are false positives.
* AP is the all-point interpolated area (VOC 2011): precision made non-increasing from the
  right, summed over the recall steps. mAP is the mean over the classes that have ground truth;
  a class with ground truth but no predictions scores 0.
* THUMOS'14 challenge option (`ignore_ambiguous`): a prediction that is not a true positive and
  overlaps an `Ambiguous` segment of its video is dropped (neither true nor false positive).

Choices where the description is silent (the official evaluator's behaviour is noted):
* Score ties: stable sort, tied predictions keep their order in the file. (The official
  evaluator reverses an unstable numpy argsort, so its order of ties is not defined; the eval
  fixtures have no ties.)
* tIoU ties: among unmatched ground truth segments with the same tIoU, the one listed LAST in
  the file is taken, which is what the official `argsort()[::-1]` does on the short per-video
  arrays it sorts (numpy sorts arrays of up to 16 elements stably).
* tIoU = intersection / (length_a + length_b - intersection), 0 when the union is 0.
* "Overlaps an Ambiguous segment" means a positive intersection (tIoU > 0).
* The `Ambiguous` label is never a class: `load_ground_truth` keeps those segments apart.
* Classes are those of the ground truth subset, in order of first appearance (or
  `class_names` when given; a given class without ground truth gets AP NaN and is left out
  of the mean, as the official evaluator never sees it).
* Matching runs for all classes and thresholds at once, in rounds: every prediction proposes
  its best still-available segment and wins it when no earlier open prediction could still
  take it. Each round settles at least the earliest open prediction, and the result is exactly
  the sequential greedy one (see `_greedy_match`).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from assg_tf import run_dir

AMBIGUOUS = "Ambiguous"
RESULTS_VERSION = "VERSION 1.3"

# Protocols (docs/DESIGN.md "Evaluation"). np.round makes them print as 0.1, 0.2, ..., 0.55, ...
THUMOS14_TIOU: Tuple[float, ...] = tuple(float(x) for x in np.round(np.arange(1, 8) / 10, 2))
ANET_TIOU: Tuple[float, ...] = tuple(float(x) for x in np.round(np.arange(10, 20) / 20, 2))
# The paper's THUMOS'14 average is over 0.1:0.1:0.5.
_PAPER_AVERAGE_TIOU = (0.1, 0.2, 0.3, 0.4, 0.5)

PathOrDict = Union[str, os.PathLike, Mapping[str, Any]]


@dataclasses.dataclass(frozen=True, eq=False)
class GroundTruth:
  """Ground truth segments of one subset, as flat arrays.

  Attributes:
    video_ids: the videos of the subset, in file order.
    class_names: the classes; `labels` index into them.
    video: int64 [K], index into `video_ids` of each segment.
    segments: float64 [K, 2], [start, end] in seconds.
    labels: int64 [K], class of each segment.
    ambiguous_video: int64 [A], video of each `Ambiguous` segment.
    ambiguous_segments: float64 [A, 2].
    durations: float64 [V], NaN where the file gives none.
    source: the file name (or "<dict>"), for error messages.
  """
  video_ids: Tuple[str, ...]
  class_names: Tuple[str, ...]
  video: np.ndarray
  segments: np.ndarray
  labels: np.ndarray
  ambiguous_video: np.ndarray
  ambiguous_segments: np.ndarray
  durations: np.ndarray
  source: str = "<dict>"

  @property
  def num_classes(self) -> int:
    return len(self.class_names)


@dataclasses.dataclass(frozen=True, eq=False)
class Predictions:
  """Detections, as flat arrays (the ActivityNet results format).

  Attributes:
    video_ids: the videos of the file, in file order (including those with no detection).
    label_names: the distinct labels of the file, in order of first appearance; `labels`
      index into them.
    video: int64 [N], index into `video_ids`.
    segments: float64 [N, 2], [start, end] in seconds.
    labels: int64 [N].
    scores: float64 [N].
    source: the file name (or "<dict>"), for error messages.
  """
  video_ids: Tuple[str, ...]
  label_names: Tuple[str, ...]
  video: np.ndarray
  segments: np.ndarray
  labels: np.ndarray
  scores: np.ndarray
  source: str = "<dict>"

  def __len__(self) -> int:
    return int(self.scores.shape[0])


@dataclasses.dataclass(frozen=True, eq=False)
class DetectionResult:
  """mAP at each tIoU threshold.

  Attributes:
    tiou_thresholds: float64 [T].
    mAP: float64 [T], mean AP over the classes with ground truth.
    average_mAP: mean of `mAP` over the thresholds.
    per_class_AP: float64 [C, T]; NaN for a class without ground truth.
    class_names: the C classes.
    num_ground_truth: int64 [C], ground truth segments per class.
  """
  tiou_thresholds: np.ndarray
  mAP: np.ndarray  # pylint: disable=invalid-name
  average_mAP: float  # pylint: disable=invalid-name
  per_class_AP: np.ndarray  # pylint: disable=invalid-name
  class_names: Tuple[str, ...]
  num_ground_truth: np.ndarray


# ----------------------------------------------------------------------------------------------
# Reading and writing the ActivityNet formats.


def _read_json(path_or_dict: PathOrDict, what: str) -> Tuple[Mapping[str, Any], str]:
  """Returns (parsed object, name for error messages)."""
  if isinstance(path_or_dict, Mapping):
    return path_or_dict, "<dict>"
  source = os.fspath(path_or_dict)
  try:
    with open(source, "r", encoding="utf-8") as f:
      data = json.load(f)
  except OSError as e:
    raise ValueError(f"{what} file {source}: cannot read it ({e})") from e
  except json.JSONDecodeError as e:
    raise ValueError(f"{what} file {source}: not valid JSON ({e})") from e
  if not isinstance(data, dict):
    raise ValueError(f"{what} file {source}: expected a JSON object, got {type(data).__name__}")
  return data, source


def _segment_array(raw: list, where: Sequence[str], source: str, what: str) -> np.ndarray:
  """float64 [K, 2] from a list of [start, end] (numbers or numeric strings), validated.

  `where[k]` names the video of segment k for error messages.
  """
  if not raw:
    return np.zeros((0, 2), np.float64)
  try:
    segments = np.asarray(raw, dtype=np.float64)
    ok = segments.ndim == 2 and segments.shape[1] == 2
  except (ValueError, TypeError):
    ok = False
  if not ok:  # Find the culprit for the message.
    for k, seg in enumerate(raw):
      try:
        if np.asarray(seg, dtype=np.float64).shape != (2,):
          raise ValueError
      except (ValueError, TypeError):
        raise ValueError(f"{what} file {source}: video {where[k]}: segment {seg!r} is not "
                         "[start, end] (two numbers)") from None
    segments = np.stack([np.asarray(seg, dtype=np.float64) for seg in raw])
  bad = ~np.isfinite(segments).all(axis=1)
  if bad.any():
    k = int(np.argmax(bad))
    raise ValueError(f"{what} file {source}: video {where[k]}: segment {raw[k]!r} is not "
                     "finite")
  bad = segments[:, 1] < segments[:, 0]
  if bad.any():
    k = int(np.argmax(bad))
    raise ValueError(f"{what} file {source}: video {where[k]}: segment {raw[k]!r} ends "
                     "before it starts")
  return segments


def load_ground_truth(path_or_dict: PathOrDict, subset: Optional[str] = None,
                      class_names: Optional[Sequence[str]] = None) -> GroundTruth:
  """Reads ground truth in the ActivityNet `database` format.

  Args:
    path_or_dict: a JSON file or its parsed content, `{"database": {video_id: {"subset": ...,
      "duration": ... (optional), "annotations": [{"label": ..., "segment": [start, end]}]}}}`.
      Segment bounds may be numbers or numeric strings.
    subset: keep only videos whose `subset` equals this (case-sensitive); None keeps all.
    class_names: the class list (and its order); None = the labels of the kept videos in order
      of first appearance. `Ambiguous` segments are kept apart, never as a class.

  Returns:
    GroundTruth.

  Raises:
    ValueError: naming the file, video and value, for malformed input, or when `subset`
      matches no video.
  """
  data, source = _read_json(path_or_dict, "ground truth")
  database = data.get("database")
  if not isinstance(database, Mapping):
    raise ValueError(f"ground truth file {source}: expected a top-level 'database' object "
                     "(ActivityNet format)")
  video_ids, durations, seg_raw, seg_video, seg_label = [], [], [], [], []
  subsets_seen = set()
  for vid, entry in database.items():
    if not isinstance(entry, Mapping):
      raise ValueError(f"ground truth file {source}: video {vid}: expected an object, got "
                       f"{entry!r}")
    if subset is not None:
      if "subset" not in entry:
        raise ValueError(f"ground truth file {source}: video {vid}: missing key 'subset'")
      subsets_seen.add(entry["subset"])
      if entry["subset"] != subset:
        continue
    annotations = entry.get("annotations")
    if not isinstance(annotations, list):
      raise ValueError(f"ground truth file {source}: video {vid}: missing or invalid "
                       f"'annotations' (expected a list), got {annotations!r}")
    duration = entry.get("duration", math.nan)
    try:
      duration = float(duration)
    except (TypeError, ValueError):
      raise ValueError(f"ground truth file {source}: video {vid}: duration {duration!r} is "
                       "not a number") from None
    v = len(video_ids)
    video_ids.append(vid)
    durations.append(duration)
    for ann in annotations:
      if not isinstance(ann, Mapping) or "label" not in ann or "segment" not in ann:
        raise ValueError(f"ground truth file {source}: video {vid}: annotation {ann!r} needs "
                         "keys 'label' and 'segment'")
      seg_raw.append(ann["segment"])
      seg_video.append(v)
      seg_label.append(str(ann["label"]))
  if subset is not None and not video_ids:
    raise ValueError(f"ground truth file {source}: subset {subset!r} matches no video; "
                     f"subsets present: {sorted(map(str, subsets_seen))}")

  segments = _segment_array(seg_raw, [video_ids[v] for v in seg_video], source, "ground truth")
  seg_video = np.asarray(seg_video, np.int64)
  label_arr = np.asarray(seg_label, dtype=object)
  ambiguous = label_arr == AMBIGUOUS
  if class_names is None:
    names = [n for n in dict.fromkeys(seg_label) if n != AMBIGUOUS]
  else:
    names = [str(n) for n in class_names]
    if AMBIGUOUS in names:
      raise ValueError(f"class_names must not contain {AMBIGUOUS!r}")
  index = {n: i for i, n in enumerate(names)}
  labels = np.fromiter((index.get(n, -1) for n in seg_label), np.int64, len(seg_label))
  unknown = (labels < 0) & ~ambiguous
  if unknown.any():
    k = int(np.argmax(unknown))
    raise ValueError(f"ground truth file {source}: video {video_ids[seg_video[k]]}: label "
                     f"{seg_label[k]!r} is not in class_names")
  return GroundTruth(
      video_ids=tuple(video_ids), class_names=tuple(names), video=seg_video[~ambiguous],
      segments=segments[~ambiguous], labels=labels[~ambiguous],
      ambiguous_video=seg_video[ambiguous], ambiguous_segments=segments[ambiguous],
      durations=np.asarray(durations, np.float64), source=source)


def load_predictions(path_or_dict: PathOrDict) -> Predictions:
  """Reads detections in the ActivityNet results format.

  Args:
    path_or_dict: a JSON file or its parsed content, `{"results": {video_id: [{"label": ...,
      "segment": [start, end], "score": ...}]}}`.

  Returns:
    Predictions.

  Raises:
    ValueError: naming the file, video and value, for malformed JSON, missing keys, segments
      that are not two finite numbers with end >= start, and non-finite scores.
  """
  data, source = _read_json(path_or_dict, "predictions")
  results = data.get("results")
  if not isinstance(results, Mapping):
    raise ValueError(f"predictions file {source}: expected a top-level 'results' object "
                     "(ActivityNet format)")
  video_ids = tuple(results)
  for vid, dets in results.items():
    if not isinstance(dets, list):
      raise ValueError(f"predictions file {source}: video {vid}: expected a list of "
                       f"detections, got {dets!r}")
  counts = np.fromiter((len(d) for d in results.values()), np.int64, len(video_ids))
  try:
    dets = [d for ds in results.values() for d in ds]
    seg_raw = [d["segment"] for d in dets]
    label_raw = [d["label"] for d in dets]
    score_raw = [d["score"] for d in dets]
  except (KeyError, TypeError):  # Find the culprit for the message.
    for vid, ds in results.items():
      for d in ds:
        if not isinstance(d, Mapping) or not {"label", "segment", "score"} <= set(d):
          raise ValueError(f"predictions file {source}: video {vid}: detection {d!r} needs "
                           "keys 'label', 'segment' and 'score'") from None
    raise
  video = np.repeat(np.arange(len(video_ids), dtype=np.int64), counts)
  where = _VideoNames(video_ids, video)
  segments = _segment_array(seg_raw, where, source, "predictions")
  try:
    scores = np.asarray(score_raw, dtype=np.float64).reshape(-1)
    ok = scores.shape[0] == len(dets)
  except (ValueError, TypeError):
    ok = False
  if not ok:  # Find the culprit for the message.
    for k, s in enumerate(score_raw):
      try:
        if np.ndim(s) != 0:
          raise ValueError
        float(s)
      except (ValueError, TypeError):
        raise ValueError(f"predictions file {source}: video {where[k]}: score {s!r} is not a "
                         "number") from None
  bad = ~np.isfinite(scores)
  if bad.any():
    k = int(np.argmax(bad))
    raise ValueError(f"predictions file {source}: video {where[k]}: score {score_raw[k]!r} "
                     "is not finite")
  label_index: Dict[str, int] = {}  # label -> index, in order of first appearance
  labels = np.fromiter((label_index.setdefault(str(x), len(label_index)) for x in label_raw),
                       np.int64, len(label_raw))
  return Predictions(video_ids=video_ids, label_names=tuple(label_index), video=video,
                     segments=segments, labels=labels, scores=scores, source=source)


@dataclasses.dataclass(frozen=True)
class PredictionChecks:
  """Detections that are legal in the results format but suspicious (see `check_predictions`).

  Attributes:
    unknown_video_detections: detections of videos that are not in the ground truth (subset).
    unknown_videos: how many such videos.
    negative_start: detections that start before 0 s.
    zero_length: detections with end == start.
  """
  unknown_video_detections: int
  unknown_videos: int
  negative_start: int
  zero_length: int


def check_predictions(ground_truth: GroundTruth, predictions: Predictions) -> PredictionChecks:
  """Counts the detections a user may not expect to be there; changes nothing in the mAP.

  The evaluator (like the official one) counts detections of videos outside the ground truth
  as false positives, and evaluates negative starts as given; a zero-length detection has
  tIoU 0 with everything, so it is a false positive at every threshold.
  """
  known_ids = set(ground_truth.video_ids)
  known = np.fromiter((v in known_ids for v in predictions.video_ids), bool,
                      len(predictions.video_ids))
  unknown = ~known[predictions.video]
  return PredictionChecks(
      unknown_video_detections=int(unknown.sum()),
      unknown_videos=int(np.unique(predictions.video[unknown]).size),
      negative_start=int((predictions.segments[:, 0] < 0).sum()),
      zero_length=int((predictions.segments[:, 1] == predictions.segments[:, 0]).sum()))


class _VideoNames:
  """`names[k]` = the video id of detection k, without building the full list."""

  def __init__(self, video_ids: Sequence[str], video: np.ndarray):
    self._ids, self._video = video_ids, video

  def __getitem__(self, k: int) -> str:
    return self._ids[int(self._video[k])]


def _as_segments(x: Any, what: str) -> np.ndarray:
  """float64 [K, 2] from an array-like of segments (an empty one may have any shape)."""
  segments = np.asarray(x, np.float64)
  if segments.size == 0:
    return segments.reshape(0, 2)
  if segments.ndim != 2 or segments.shape[1] != 2:
    raise ValueError(f"{what}: expected segments of shape [K, 2], got {segments.shape}")
  return segments


def results_dict(detections_by_video: Mapping[str, Any],
                 class_names: Optional[Sequence[str]] = None) -> Dict[str, Any]:
  """Builds the ActivityNet results object (see `write_predictions`)."""
  results = {}
  for vid, dets in detections_by_video.items():
    if isinstance(dets, Mapping):
      segments = _as_segments(dets["segments"], f"video {vid}")
      scores = np.asarray(dets["scores"], np.float64).reshape(-1)
      classes = np.asarray(dets["classes"]).reshape(-1)
      if class_names is None:
        raise ValueError(f"video {vid}: detections given as class indices need class_names")
      if not (segments.shape[0] == scores.shape[0] == classes.shape[0]):
        raise ValueError(f"video {vid}: segments {segments.shape}, scores {scores.shape} and "
                         f"classes {classes.shape} disagree in length")
      if ((classes < 0) | (classes >= len(class_names))).any():
        raise ValueError(f"video {vid}: class index outside 0..{len(class_names) - 1}: "
                         f"{classes.tolist()}")
      labels = [class_names[int(c)] for c in classes]
    else:
      try:
        segments = np.asarray([d["segment"] for d in dets], np.float64).reshape(-1, 2)
        scores = np.asarray([d["score"] for d in dets], np.float64).reshape(-1)
        labels = [str(d["label"]) for d in dets]
      except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"video {vid}: expected detections {{'label', 'segment': [start, "
                         f"end], 'score'}}, got {dets!r} ({e!r})") from None
    bad = ~(np.isfinite(segments).all(axis=1) & np.isfinite(scores)) | (
        segments[:, 1] < segments[:, 0])
    if bad.any():
      k = int(np.argmax(bad))
      raise ValueError(f"video {vid}: detection {k} has segment {segments[k].tolist()} and "
                       f"score {scores[k]}: expected finite values with end >= start")
    results[str(vid)] = [
        {"label": lab, "segment": [float(s), float(e)], "score": float(sc)}
        for lab, (s, e), sc in zip(labels, segments.tolist(), scores.tolist())]
  return {"version": RESULTS_VERSION, "results": results, "external_data": {}}


def write_predictions(path: Union[str, os.PathLike], detections_by_video: Mapping[str, Any],
                      class_names: Optional[Sequence[str]] = None) -> None:
  """Writes detections in the ActivityNet results format, atomically.

  Args:
    path: the JSON file to write (its folder is created).
    detections_by_video: video id -> either a list of `{"label", "segment", "score"}` or a
      mapping with arrays `"segments"` [K, 2] (seconds), `"scores"` [K] and `"classes"` [K]
      (0-based indices into `class_names`).
    class_names: needed for detections given as class indices.

  Raises:
    ValueError: for non-finite values, end < start, or class indices out of range.
  """
  run_dir.write_json(path, results_dict(detections_by_video, class_names))


def _text(value) -> str:
  value = value.numpy() if hasattr(value, "numpy") else value
  if isinstance(value, np.ndarray):
    value = value.item()
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _seconds(value) -> float:
  """The shortest decimal that round-trips the float32 value: 1.1 stays 1.1."""
  return float(str(np.float32(value)))


def ground_truth_database(examples: Iterable[Mapping[str, Any]], class_names: Sequence[str],
                          subset: str) -> Dict[str, Any]:
  """The ActivityNet-format ground truth `database` of dataset examples, for the evaluator.

  The one ground truth builder: training evaluates against it, writes it as
  OUT/ground_truth.json, and the synthetic per-video layout writes it as gt.json.

  Args:
    examples: a tf.data.Dataset of examples (docs/DESIGN.md "A dataset example"), or an
      iterable of example dicts with numpy / TF / Python values (keys video_id, duration,
      segments, segment_labels, optional ambiguous).
    class_names: names of the label ids.
    subset: the subset written into every entry (e.g. "test").

  Returns:
    {video_id: {"subset", "duration", "annotations": [{"label", "segment": [start, end]}]}};
    THUMOS'14 Ambiguous segments get the label `AMBIGUOUS`. Wrap it as {"database": ...} for
    `load_ground_truth`.
  """
  if hasattr(examples, "as_numpy_iterator"):  # a tf.data.Dataset (this module never imports TF)
    examples = examples.as_numpy_iterator()
  names = list(class_names)
  database: Dict[str, Any] = {}
  for example in examples:
    video_id = _text(example["video_id"])
    segments = np.reshape(np.asarray(example["segments"], np.float32), (-1, 2))
    labels = np.reshape(np.asarray(example["segment_labels"], np.int64), (-1,))
    ambiguous = np.reshape(np.asarray(example.get("ambiguous", np.zeros((0, 2))),
                                      np.float32), (-1, 2))
    if len(segments) != len(labels):
      raise ValueError(f"video {video_id}: {len(segments)} segments but {len(labels)} "
                       "segment_labels")
    bad = labels[(labels < 0) | (labels >= len(names))]
    if bad.size:
      raise ValueError(f"video {video_id}: segment label {int(bad[0])} is not a class id in "
                       f"[0, {len(names)})")
    if video_id in database:
      raise ValueError(f"video {video_id} appears twice")
    annotations: List[Dict[str, Any]] = [
        {"label": names[c], "segment": [_seconds(s), _seconds(e)]}
        for (s, e), c in zip(segments.tolist(), labels.tolist())]
    annotations += [{"label": AMBIGUOUS, "segment": [_seconds(s), _seconds(e)]}
                    for s, e in ambiguous.tolist()]
    database[video_id] = {"subset": subset, "duration": _seconds(example["duration"]),
                          "annotations": annotations}
  return database


# ----------------------------------------------------------------------------------------------
# Core: tIoU, AP, matching.


def _intersection(a_start, a_end, b_start, b_end) -> np.ndarray:
  """Elementwise (broadcast) length of the intersection, >= 0."""
  return np.clip(np.minimum(a_end, b_end) - np.maximum(a_start, b_start), 0.0, None)


def _iou(a_start, a_end, b_start, b_end) -> np.ndarray:
  """Elementwise (broadcast) tIoU; 0 where the union is empty."""
  inter = _intersection(a_start, a_end, b_start, b_end)
  union = (a_end - a_start) + (b_end - b_start) - inter
  with np.errstate(divide="ignore", invalid="ignore"):
    return np.where(union > 0, inter / union, 0.0)


def temporal_iou(segments_a: np.ndarray, segments_b: np.ndarray) -> np.ndarray:
  """tIoU of every pair: [N, 2] x [M, 2] -> [N, M] (0 where the union is empty)."""
  a = np.asarray(segments_a, np.float64)
  b = np.asarray(segments_b, np.float64)
  for name, x in (("segments_a", a), ("segments_b", b)):
    if x.ndim != 2 or x.shape[1] != 2:
      raise ValueError(f"{name}: expected shape [N, 2], got {x.shape}")
  return _iou(a[:, None, 0], a[:, None, 1], b[None, :, 0], b[None, :, 1])


def _segmented_average_precision(tp: np.ndarray, kept: np.ndarray, segment: np.ndarray,
                                 num_positives: np.ndarray) -> np.ndarray:
  """All-point interpolated AP of several ranked lists laid end to end.

  Args:
    tp: bool [T, N], true positives, each list in descending score order.
    kept: bool [T, N], False for dropped predictions (neither true nor false positive).
    segment: int64 [N], non-decreasing list index of each prediction, in 0..S-1.
    num_positives: [S] ground truth count per list.

  Returns:
    float64 [T, S]; NaN where num_positives is 0.
  """
  num_lists = num_positives.shape[0]
  num_t, n = tp.shape
  ap = np.zeros((num_t, num_lists), np.float64)
  if n:
    start = np.searchsorted(segment, segment, side="left")  # first index of each one's list
    zero = np.zeros((num_t, 1), np.int64)
    ctp = np.concatenate([zero, np.cumsum(tp, axis=1)], axis=1)
    ckept = np.concatenate([zero, np.cumsum(kept, axis=1)], axis=1)
    tp_so_far = ctp[:, 1:] - ctp[:, start]
    kept_so_far = ckept[:, 1:] - ckept[:, start]
    precision = tp_so_far / np.maximum(kept_so_far, 1)
    # Running max from the right within each list: lift list s by 2 * (S - 1 - s) so that
    # a reversed accumulate never carries a value into the next list (precisions are in
    # [0, 1]); the rounding this adds is below 1e-12.
    lift = 2.0 * (num_lists - 1 - segment)
    interpolated = (np.maximum.accumulate((precision + lift)[:, ::-1], axis=1)[:, ::-1] - lift)
    cell = np.arange(num_t)[:, None] * num_lists + segment[None, :]
    ap = np.bincount(cell.ravel(), weights=np.where(tp, interpolated, 0.0).ravel(),
                     minlength=num_t * num_lists).reshape(num_t, num_lists)
  with np.errstate(divide="ignore", invalid="ignore"):
    return np.where(num_positives > 0, ap / num_positives, np.nan)


def average_precision(true_positive: np.ndarray, num_positives: int,
                      ignored: Optional[np.ndarray] = None) -> np.ndarray:
  """All-point interpolated AP (VOC 2011) of a ranked list.

  Recall and precision are taken after each prediction; precision is made non-increasing from
  the right, and AP is the sum of precision x recall increase over the recall steps.

  Args:
    true_positive: bool [..., N], predictions in descending score order (leading axes, e.g.
      tIoU thresholds, are independent lists).
    num_positives: ground truth count (> 0).
    ignored: optional bool [..., N], predictions that count as neither true nor false.

  Returns:
    float64 [...] AP.
  """
  tp = np.asarray(true_positive, bool)
  if tp.ndim == 0:
    raise ValueError("true_positive: expected a ranked list [..., N], got a scalar")
  if num_positives <= 0:
    raise ValueError(f"num_positives must be > 0, got {num_positives}")
  lead = tp.shape[:-1]
  tp2 = tp.reshape(int(np.prod(lead)), tp.shape[-1])
  kept = np.ones_like(tp2) if ignored is None else ~np.asarray(ignored, bool).reshape(tp2.shape)
  if (tp2 & ~kept).any():
    raise ValueError("a prediction cannot be both a true positive and ignored")
  ap = _segmented_average_precision(tp2, kept, np.zeros(tp2.shape[1], np.int64),
                                    np.array([num_positives], np.float64))
  return ap[:, 0].reshape(lead)


def _pairs_with_same_key(query_keys: np.ndarray, keys: np.ndarray
                         ) -> Tuple[np.ndarray, np.ndarray]:
  """All (i, j) with query_keys[i] == keys[j], sorted by i then j."""
  order = np.argsort(keys, kind="stable")
  sorted_keys = keys[order]
  lo = np.searchsorted(sorted_keys, query_keys, side="left")
  counts = np.searchsorted(sorted_keys, query_keys, side="right") - lo
  i = np.repeat(np.arange(query_keys.shape[0]), counts)
  offsets = np.repeat(lo - (np.cumsum(counts) - counts), counts)
  return i, order[offsets + np.arange(i.shape[0])]


def _greedy_match(pair_pred: np.ndarray, pair_gt: np.ndarray, pair_iou: np.ndarray,
                  num_pred: int, num_gt: int, thresholds: np.ndarray) -> np.ndarray:
  """Greedy matching in rank order, for every threshold at once.

  Args:
    pair_pred: int64 [P], rank of the prediction of each candidate pair (0 = matched first),
      non-decreasing.
    pair_gt: int64 [P], ground truth segment of the pair (its index in file order).
    pair_iou: float64 [P], their tIoU.
    num_pred, num_gt: counts.
    thresholds: float64 [T].

  Returns:
    bool [T, num_pred], true positives.

  Sequentially, prediction p takes, among the candidates with tIoU >= threshold not taken by
  an earlier prediction, the one of highest tIoU (on ties the one listed last). Here every
  threshold is an independent copy (flat ids t * num + i) and the greedy runs in rounds: each
  open prediction looks at its best available candidate g and takes it if no earlier open
  prediction still has g available. Nothing earlier can then take g, and everything p prefers
  to g is already gone, so p's result is the sequential one; candidates only ever disappear,
  so a prediction left with none is a false positive. Within one (video, class, threshold)
  group the earliest open prediction always wins, so every round takes at least one segment
  of each group still open: the rounds are at most the largest number of segments of one
  class in one video (218 in THUMOS'14 test; about 8 rounds are run in practice).
  """
  num_t = thresholds.shape[0]
  t, k = np.nonzero(pair_iou[None, :] >= thresholds[:, None])  # t-major: sorted by (t, rank)
  pred = t * num_pred + pair_pred[k]
  gt = t * num_gt + pair_gt[k]
  iou = pair_iou[k]
  tp = np.zeros(num_t * num_pred, bool)
  taken = np.zeros(num_t * num_gt, bool)
  none = np.iinfo(np.int64).max
  earliest = np.full(num_t * num_gt, none)
  while pred.size:
    first = np.ones(pred.shape[0], bool)
    np.not_equal(pred[1:], pred[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    count = np.diff(np.append(starts, pred.shape[0]))
    best_iou = np.maximum.reduceat(iou, starts)
    best_gt = np.maximum.reduceat(np.where(iou == np.repeat(best_iou, count), gt, -1), starts)
    best_pred = pred[starts]
    earliest[gt] = none
    np.minimum.at(earliest, gt, pred)
    win = earliest[best_gt] == best_pred
    tp[best_pred[win]] = True
    taken[best_gt[win]] = True
    open_pair = ~(tp[pred] | taken[gt])
    pred, gt, iou = pred[open_pair], gt[open_pair], iou[open_pair]
  return tp.reshape(num_t, num_pred)


def _check_thresholds(tiou_thresholds: Iterable[float]) -> np.ndarray:
  thr = np.asarray(list(tiou_thresholds), np.float64)
  if thr.ndim != 1 or thr.size == 0 or not np.all((thr > 0) & (thr <= 1)):
    raise ValueError(f"tiou_thresholds: expected a non-empty list of numbers in (0, 1], got "
                     f"{thr.tolist()}")
  return thr


def _prediction_classes(ground_truth: GroundTruth, predictions: Predictions) -> np.ndarray:
  """Class index (in the ground truth's classes) of each prediction; ValueError if unknown."""
  index = {n: i for i, n in enumerate(ground_truth.class_names)}
  name_to_class = np.array([index.get(n, -1) for n in predictions.label_names], np.int64)
  classes = name_to_class[predictions.labels] if len(predictions) else predictions.labels
  unknown = classes < 0
  if unknown.any():
    k = int(np.argmax(unknown))
    raise ValueError(
        f"predictions file {predictions.source}: video "
        f"{predictions.video_ids[predictions.video[k]]}: label "
        f"{predictions.label_names[predictions.labels[k]]!r} is not a class of the ground "
        f"truth {ground_truth.source} (classes: {list(ground_truth.class_names)})")
  return classes


def _gt_video_of_predictions(ground_truth: GroundTruth, predictions: Predictions) -> np.ndarray:
  """Ground truth video index of each prediction, -1 for videos absent from the ground truth."""
  gt_ids = np.asarray(ground_truth.video_ids, dtype=object)
  pred_ids = np.asarray(predictions.video_ids, dtype=object)
  if not gt_ids.size or not pred_ids.size:
    return np.full(len(predictions), -1, np.int64)
  order = np.argsort(gt_ids)
  pos = np.minimum(np.searchsorted(gt_ids[order], pred_ids), gt_ids.size - 1)
  video_map = np.where(gt_ids[order][pos] == pred_ids, order[pos], -1)
  return video_map[predictions.video]


def evaluate_detection(ground_truth: GroundTruth, predictions: Predictions,
                       tiou_thresholds: Sequence[float],
                       ignore_ambiguous: bool = False) -> DetectionResult:
  """mAP at each tIoU threshold, as the official ActivityNet evaluator computes it.

  Args:
    ground_truth: from `load_ground_truth` (already restricted to the evaluated subset).
    predictions: from `load_predictions`; every label must be a ground truth class.
    tiou_thresholds: numbers in (0, 1].
    ignore_ambiguous: THUMOS'14 challenge rule: a prediction that is not a true positive and
      overlaps (intersection > 0) an `Ambiguous` segment of its video is dropped.

  Returns:
    DetectionResult.

  Raises:
    ValueError: for a predicted label that is not a class, bad thresholds, or ground truth
      without any segment.
  """
  thr = _check_thresholds(tiou_thresholds)
  num_classes = ground_truth.num_classes
  num_gt_per_class = np.bincount(ground_truth.labels, minlength=num_classes)
  if not num_gt_per_class.any():
    raise ValueError(f"ground truth {ground_truth.source}: no segment to evaluate against")
  classes = _prediction_classes(ground_truth, predictions)
  video = _gt_video_of_predictions(ground_truth, predictions)

  # Rank: by class, then score descending; ties keep file order (lexsort is stable).
  order = np.lexsort((-predictions.scores, classes))
  classes, video, segments = classes[order], video[order], predictions.segments[order]
  num_pred, num_gt = order.shape[0], ground_truth.labels.shape[0]

  # Candidate pairs: prediction x ground truth of the same video and class.
  gt_key = ground_truth.video * num_classes + ground_truth.labels
  pred_key = np.where(video >= 0, video * num_classes + classes, -1)
  pair_pred, pair_gt = _pairs_with_same_key(pred_key, gt_key)
  pred_seg, gt_seg = segments[pair_pred], ground_truth.segments[pair_gt]
  overlap = _intersection(pred_seg[:, 0], pred_seg[:, 1], gt_seg[:, 0], gt_seg[:, 1]) > 0
  pair_pred, pair_gt, pred_seg, gt_seg = (pair_pred[overlap], pair_gt[overlap],
                                          pred_seg[overlap], gt_seg[overlap])
  pair_iou = _iou(pred_seg[:, 0], pred_seg[:, 1], gt_seg[:, 0], gt_seg[:, 1])
  useful = pair_iou >= thr.min()
  tp = _greedy_match(pair_pred[useful], pair_gt[useful], pair_iou[useful], num_pred, num_gt,
                     thr)

  kept = np.ones_like(tp)
  if ignore_ambiguous:
    p, a = _pairs_with_same_key(video, ground_truth.ambiguous_video)
    amb = ground_truth.ambiguous_segments[a]
    on_ambiguous = np.zeros(num_pred, bool)
    on_ambiguous[p[_intersection(segments[p, 0], segments[p, 1], amb[:, 0], amb[:, 1]) > 0]] = (
        True)
    kept = tp | ~on_ambiguous[None, :]

  per_class = _segmented_average_precision(tp, kept, classes,
                                           num_gt_per_class.astype(np.float64))
  mean_ap = np.nanmean(per_class, axis=1)
  return DetectionResult(tiou_thresholds=thr, mAP=mean_ap, average_mAP=float(mean_ap.mean()),
                         per_class_AP=per_class.T.copy(), class_names=ground_truth.class_names,
                         num_ground_truth=num_gt_per_class)


def summarize(result: DetectionResult) -> Dict[str, Any]:
  """The metrics of docs/DESIGN.md "Commands" as plain Python values.

  Returns:
    {"tiou_thresholds": [...], "mAP": [...], "average_mAP": x}, plus "average_mAP_0.1_0.5"
    (the paper's THUMOS'14 average) when 0.1, 0.2, 0.3, 0.4 and 0.5 are all thresholds.
  """
  thr = np.asarray(result.tiou_thresholds, np.float64)
  out = {"tiou_thresholds": [float(x) for x in thr],
         "mAP": [float(x) for x in result.mAP],
         "average_mAP": float(result.average_mAP)}
  match = np.isclose(thr[:, None], np.asarray(_PAPER_AVERAGE_TIOU)[None, :], atol=1e-9)
  if match.any(axis=0).all():
    out["average_mAP_0.1_0.5"] = float(np.mean(result.mAP[match.any(axis=1)]))
  return out


def classification_map(labels: np.ndarray, scores: np.ndarray) -> float:
  """Video-level classification mAP: mean over classes of sklearn's average_precision_score.

  Classes without any positive video are skipped (their AP is undefined).

  Args:
    labels: [V, C] multi-hot video labels.
    scores: [V, C] class scores.

  Raises:
    ValueError: for mismatched shapes, non-finite scores, or no class with a positive video.
  """
  labels = np.asarray(labels)
  scores = np.asarray(scores, np.float64)
  if labels.ndim != 2 or labels.shape != scores.shape:
    raise ValueError(f"labels {labels.shape} and scores {scores.shape}: expected the same "
                     "shape [videos, classes]")
  if not np.isfinite(scores).all():
    raise ValueError("scores contain NaN or inf")
  positive = labels > 0
  has_positive = positive.any(axis=0)
  if not has_positive.any():
    raise ValueError("labels: no class has a positive video; classification mAP is undefined")
  # Imported here: scikit-learn takes longer to import than the detection evaluator runs.
  from sklearn import metrics as sk_metrics  # pylint: disable=g-import-not-at-top
  aps = [sk_metrics.average_precision_score(positive[:, c], scores[:, c])
         for c in np.flatnonzero(has_positive)]
  return float(np.mean(aps))


# ----------------------------------------------------------------------------------------------
# Reading ground truth by name, and reporting (`python -m assg_tf.evaluate`, `assg_tf.train`).

SHIPPED = ("thumos14", "activitynet13")  # ground truth names: the annotations in assg_tf/data


def read_ground_truth(name_or_path: str, subset: Optional[str]) -> GroundTruth:
  """A ground truth file, or the name of a benchmark whose annotations ship with assg_tf
  (`features.shipped_ground_truth`); an existing file of that name wins."""
  if name_or_path in SHIPPED and not os.path.exists(name_or_path):
    # Imported here: assg_tf.features imports this module (AMBIGUOUS).
    from assg_tf import features  # pylint: disable=g-import-not-at-top
    gt = load_ground_truth(features.shipped_ground_truth(name_or_path), subset=subset)
    return dataclasses.replace(gt, source=f"{name_or_path} (assg_tf/data)")
  return load_ground_truth(name_or_path, subset=subset)


def format_result(result: DetectionResult, per_class: bool = False) -> str:
  """Readable table of one evaluation: mAP (%) per threshold, the averages, optionally AP (%)
  per class."""
  summary = summarize(result)
  thr = summary["tiou_thresholds"]
  lines = [f"{'tIoU':>6}  {'mAP (%)':>8}"]
  lines += [f"{t:>6.2f}  {100 * m:>8.2f}" for t, m in zip(thr, summary["mAP"])]
  lines.append(f"average mAP (%) over tIoU {thr[0]:g}:{thr[-1]:g}: "
               f"{100 * summary['average_mAP']:.2f}")
  if "average_mAP_0.1_0.5" in summary:
    lines.append(f"average mAP (%) over tIoU 0.1:0.5: "
                 f"{100 * summary['average_mAP_0.1_0.5']:.2f}")
  if per_class:
    width = max(len("class"), *(len(n) for n in result.class_names))
    lines += ["", f"AP (%) per class", f"{'class':<{width}}  {'#gt':>5}  " +
              "  ".join(f"{t:>6.2f}" for t in thr)]
    for name, count, row in zip(result.class_names, result.num_ground_truth,
                                result.per_class_AP):
      cells = "  ".join("     -" if ap != ap else f"{100 * ap:>6.2f}" for ap in row)
      lines.append(f"{name:<{width}}  {count:>5}  {cells}")
  return "\n".join(lines)


def format_variants_table(metrics: Dict) -> str:
  """Readable table of a training run's metrics.json: one row per variant, mAP (%) per tIoU
  and the averages."""
  thresholds = metrics["tiou_thresholds"]
  variants = [k for k in ("cas", "ssg", "assg") if k in metrics]
  extra = [k for k in ("average_mAP_0.1_0.5", "average_mAP", "classification_mAP")
           if all(k in metrics[v] for v in variants)]
  head = ["tIoU"] + [f"{t:g}" for t in thresholds] + [
      {"average_mAP_0.1_0.5": "avg0.1-0.5", "average_mAP": "avg",
       "classification_mAP": "cls-mAP"}[k] for k in extra]
  rows = [head]
  for v in variants:
    m = metrics[v]
    rows.append([v] + [f"{100 * x:.1f}" for x in m["mAP"]] + [f"{100 * m[k]:.1f}"
                                                             for k in extra])
  widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
  return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows)


def metrics_dict(result: DetectionResult) -> dict:
  """`summarize` plus the AP per class (null for a class without ground truth): what
  `python -m assg_tf.evaluate --output` writes."""
  out = summarize(result)
  out["per_class_AP"] = {
      name: [None if ap != ap else float(ap) for ap in row]
      for name, row in zip(result.class_names, result.per_class_AP)}
  return out


def warning_lines(checks: PredictionChecks, subset: Optional[str]) -> List[str]:
  """One warning line per kind of suspicious detection found (none when all is well)."""
  lines = []
  if checks.unknown_video_detections:
    where = "the ground truth" if subset is None else f"subset {subset!r} of the ground truth"
    lines.append(f"warning: {checks.unknown_video_detections} detections of "
                 f"{checks.unknown_videos} videos not in {where}: counted as false positives")
  if checks.negative_start:
    lines.append(f"warning: {checks.negative_start} detections start before 0 s: evaluated "
                 "as given")
  if checks.zero_length:
    lines.append(f"warning: {checks.zero_length} detections have zero length (end == start): "
                 "tIoU 0, false positives at every threshold")
  return lines
