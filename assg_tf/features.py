"""Readers of the users' on-disk I3D feature layouts (docs/DESIGN.md "Data"; bad input: "Bad
input").

A feature folder (tfds' `manual_dir`) holds one of these layouts; `detect_layout` finds which,
and `read_videos` yields one example per video, exactly the dict of docs/DESIGN.md.

`<sub>` below is the subset folder of a split: THUMOS'14 `train` / `test`; ActivityNet 1.3
`training` / `validation` (ActivityNet's `validation` subset is our `test` split).

- `per_video` (BaS-Net / UM / CoLA): `features/<sub>/rgb/<video>.npy` and
  `features/<sub>/flow/<video>.npy`, float [T, 1024] each. Without the `flow/` folders (what
  `python -m assg_tf.extract_features` writes) the folder holds the RGB stream only
  (`missing_flow_folder` names the first missing one) and is read with `rgb_only`.
- `per_video_joint` (ACM-Net): `features/<sub>/<video>.npy`, float [T, 2048], rgb channels first.
- `wtalc` (W-TALC, THUMOS'14 only): `Thumos14reduced-I3D-JOINTFeatures.npy`, a pickled numpy
  object array of [T, 2048] arrays (rgb first), and `Thumos14reduced-Annotations/` with
  `videoname.npy`, `subset.npy` (`validation` -> train, `test` -> test), `segments.npy` (per
  video a list of [start, end] seconds), `labels.npy` (per video the label of each segment);
  optional `labels_all.npy` (per video its class names) and `duration.npy` (seconds).

Ground truth of the per-video layouts, first found wins:
1. `gt.json` in the folder, ActivityNet `database` format: `{"database": {video: {"subset": s,
   "annotations": [{"segment": [start, end], "label": name}, ...], "duration": seconds
   (optional)}}}`. Segment bounds may be numbers or numeric strings (BaS-Net's THUMOS file).
   Subsets: THUMOS'14 `train`/`validation` -> train, `test` -> test; ActivityNet `training` ->
   train, `validation` -> test (case-insensitive). Other formats (e.g. BSN's
   `anet_anno_action.json`) are not accepted as `gt.json`; convert them.
2. Otherwise the annotations shipped in `assg_tf/data`: THUMOS'14 the original challenge
   per-class files (validation videos -> train, test videos -> test) with the durations of
   `thumos14/thumos14.json`; ActivityNet 1.3 BSN's `anet_anno_action.json` (video ids `v_...`)
   with the subsets of `video_info_new.csv`.
W-TALC's annotation files are its own ground truth.

Split membership: `split_<sub>.txt` in the folder (video ids, one per line), when present, is the
split: every listed video must have features and ground truth. Otherwise the split is the ground
truth's videos of that subset that have feature files; videos of the ground truth without
features and feature files without ground truth are skipped with a logged warning (ActivityNet
feature releases routinely miss some YouTube videos). Video ids match feature file names
exactly or up to ActivityNet's `v_` prefix; the example's `video_id` is the ground truth's id.

Choices where the design is silent:
- `Ambiguous` (THUMOS'14) segments go to `ambiguous`, never to the classes. They come from the
  ground truth source itself if it has any `Ambiguous` segment; otherwise, for THUMOS'14, from
  the shipped challenge files `Ambiguous_{val,test}.txt`.
- Duration: the ground truth's when it gives one, else T * seconds_per_segment.
- rgb and flow lengths that differ by at most `MAX_LENGTH_MISMATCH` rows (real releases often
  differ by one, flow being computed on frame pairs) are trimmed to the shorter; a larger
  difference is an error.
- A train-split video with an empty label set is an error (it has nothing to learn from and the
  normalised multi-hot label of eq. 5 divides by zero); test videos may have none (THUMOS'14's
  `video_test_0001292` has only `Ambiguous` segments).
- Layout detection order when several are present: per_video, per_video_joint, wtalc.
- RGB-only reading (`read_videos(rgb_only=True)`, docs/DESIGN.md "RGB-only data"): the rgb
  features of any layout (the flow files of a per-video layout are not read, the flow half of
  joint files is dropped), with `flow` float32 [T, 0], so an example keeps the keys and the
  [rgb, flow] channel order of docs/DESIGN.md.
- Pickles (W-TALC) are read by an allow-list unpickler that can only rebuild numpy arrays,
  dtypes and scalars (plus Python lists, strings and numbers, which need no global); anything
  else is refused with `FeatureError` naming the file and the refused global. Dicts need no
  global either, so nested dicts of arrays (the I3D checkpoint, `i3d.py`) are read as well.

Every problem with the input raises `FeatureError` (a ValueError) naming the file and what was
expected. Outputs are numpy: float32 features, examples in sorted video-id order.
"""
from __future__ import annotations

import codecs
import csv
import dataclasses
import functools
import hashlib
import io
import json
import math
import os
import pickle
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from absl import logging
import numpy as np
from numpy.lib import format as npy_format

from assg_tf.evaluation import AMBIGUOUS

DATASETS = ("thumos14", "activitynet13")
SPLITS = ("train", "test")
LAYOUTS = ("per_video", "per_video_joint", "wtalc")
FEATURE_DIM = 1024  # I3D features per stream
SECONDS_PER_SEGMENT = 0.64  # 16 frames at 25 fps (docs/DESIGN.md "Data")
MAX_LENGTH_MISMATCH = 2  # rows by which rgb and flow may differ (trimmed to the shorter)

WTALC_FEATURES = "Thumos14reduced-I3D-JOINTFeatures.npy"
WTALC_ANNOTATIONS = "Thumos14reduced-Annotations"
_WTALC_REQUIRED = ("videoname.npy", "subset.npy", "segments.npy", "labels.npy")

_DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
# Subset folder (and split-file suffix) of each of our splits.
_SUBSET_FOLDER = {
    "thumos14": {"train": "train", "test": "test"},
    "activitynet13": {"train": "training", "test": "validation"},
}
# Ground-truth subset names (lower case) of each of our splits.
_GT_SUBSETS = {
    "thumos14": {"train": ("train", "validation"), "test": ("test",)},
    "activitynet13": {"train": ("training",), "test": ("validation",)},
}
_WTALC_SUBSETS = {"train": ("validation", "train"), "test": ("test",)}


class FeatureError(ValueError):
  """A feature folder, feature file or annotation file is not what docs/DESIGN.md "Data" expects."""


# ----------------------------------------------------------------------------------------------
# .npy files and the allow-list unpickler.


def _latin1_encode(obj, encoding: str = "utf-8"):
  """`_codecs.encode` as numpy uses it in protocol-2 pickles: latin-1 only."""
  if encoding not in ("latin1", "latin-1"):
    raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r} is not allowed")
  return codecs.encode(obj, "latin1")


# The only globals a pickle may name: what numpy needs to rebuild arrays, dtypes and scalars.
# The functions are taken from numpy's own reducers, so this works on numpy 1.x and 2.x.
_RECONSTRUCT = np.empty(0).__reduce__()[0]
_SCALAR = np.float64(0).__reduce__()[0]
_FROMBUFFER = np.empty(1).__reduce_ex__(5)[0]
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.multiarray", "scalar"): _SCALAR,
    ("numpy._core.multiarray", "scalar"): _SCALAR,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class AllowListUnpickler(pickle.Unpickler):
  """Unpickles numpy arrays, dtypes and scalars only (docs/DESIGN.md "Data": pickles can run code).

  Python 2 pickles (W-TALC's) are read with encoding latin-1, as numpy recommends.
  """

  def __init__(self, file: io.BufferedIOBase, path: str):
    super().__init__(file, encoding="latin1")
    self._path = path

  def find_class(self, module: str, name: str):
    try:
      return _ALLOWED_GLOBALS[(module, name)]
    except KeyError:
      raise FeatureError(
          f"{self._path}: refusing to unpickle the global '{module}.{name}'; only numpy "
          "arrays, dtypes and scalars are allowed in pickled feature and annotation files"
      ) from None

  def persistent_load(self, pid):
    raise FeatureError(f"{self._path}: refusing a pickle with persistent id {pid!r}")


def unpickle(data, path: str = "<bytes>"):
  """Unpickles `data` (bytes or a binary file) with `AllowListUnpickler`.

  `path` names the source in errors.
  """
  file = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
  try:
    return AllowListUnpickler(file, path).load()
  except FeatureError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    raise FeatureError(f"{path}: not a readable pickle of numpy arrays ({e})") from e


def read_npy(path: str) -> np.ndarray:
  """Reads a .npy file; object arrays are unpickled by `AllowListUnpickler`.

  The header is parsed with `numpy.lib.format`, so nothing is unpickled that numpy's loader
  would unpickle with `allow_pickle=True`.
  """
  if not os.path.isfile(path):
    raise FeatureError(f"missing file: {path}")
  try:
    with open(path, "rb") as f:
      try:
        version = npy_format.read_magic(f)
        if version == (1, 0):
          shape, fortran_order, dtype = npy_format.read_array_header_1_0(f)
        elif version == (2, 0):
          shape, fortran_order, dtype = npy_format.read_array_header_2_0(f)
        else:
          raise FeatureError(f"{path}: unsupported .npy format version {version}")
      except ValueError as e:
        if isinstance(e, FeatureError):
          raise
        raise FeatureError(f"{path}: not a .npy file ({e})") from e
      if dtype.hasobject:
        array = unpickle(f, path)
        if not isinstance(array, np.ndarray):
          raise FeatureError(f"{path}: the pickle holds a {type(array).__name__}, expected a "
                             "numpy array")
        return array
      count = math.prod(shape)
      data = f.read(count * dtype.itemsize)
  except OSError as e:
    raise FeatureError(f"cannot read {path}: {e}") from e
  if len(data) != count * dtype.itemsize:
    raise FeatureError(f"{path}: truncated .npy file (header says shape {shape} {dtype}, "
                       f"{len(data)} of {count * dtype.itemsize} data bytes present)")
  array = np.frombuffer(data, dtype=dtype, count=count)
  if fortran_order:
    return array.reshape(shape[::-1]).transpose()
  return array.reshape(shape)


def check_features(array: np.ndarray, path: str, expected_width: Optional[int]) -> np.ndarray:
  """Returns `array` as float32 [T, D]; FeatureError on bad shape, width, T = 0 or NaN/inf."""
  if not isinstance(array, np.ndarray) or array.ndim != 2:
    shape = getattr(array, "shape", type(array).__name__)
    raise FeatureError(f"{path}: features of shape {shape}, expected a 2-D array [T, "
                       f"{expected_width or 'D'}]")
  if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
    raise FeatureError(f"{path}: features of dtype {array.dtype}, expected floats")
  if expected_width is not None and array.shape[1] != expected_width:
    raise FeatureError(f"{path}: features of shape {array.shape}, expected width "
                       f"{expected_width} ([T, {expected_width}])")
  if array.shape[0] == 0:
    raise FeatureError(f"{path}: zero-length video (T = 0), expected at least one row")
  array = array.astype(np.float32)
  bad = array.size - int(np.count_nonzero(np.isfinite(array)))
  if bad:
    raise FeatureError(f"{path}: {bad} NaN/inf values in features of shape {array.shape}, "
                       "expected finite values")
  return array


# ----------------------------------------------------------------------------------------------
# Ground truth.


@dataclasses.dataclass
class VideoAnnotation:
  """Ground truth of one video, in seconds; `source` names the file for error messages."""
  split: str
  segments: List[Tuple[float, float]]
  segment_labels: List[str]
  ambiguous: List[Tuple[float, float]]
  video_labels: List[str]  # labels without segments (W-TALC labels_all), may repeat
  duration: Optional[float]
  source: str


def _check_dataset(dataset: str) -> None:
  if dataset not in DATASETS:
    raise ValueError(f"unknown dataset {dataset!r}, expected one of {DATASETS}")


def _check_split(split: str) -> None:
  if split not in SPLITS:
    raise ValueError(f"unknown split {split!r}, expected one of {SPLITS} (the validation "
                     "split is carved out of train by the tfds builder)")


@functools.lru_cache(maxsize=None)
def class_names(dataset: str) -> Tuple[str, ...]:
  """The classes of a benchmark, sorted: THUMOS'14 (20) or ActivityNet 1.3 (200)."""
  _check_dataset(dataset)
  if dataset == "thumos14":
    folder = os.path.join(_DATA_DIR, "thumos14", "annotations_val")
    names = [f[:-len("_val.txt")] for f in os.listdir(folder) if f.endswith("_val.txt")]
    return tuple(sorted(n for n in names if n != AMBIGUOUS))
  with open(os.path.join(_DATA_DIR, "activitynet13", "action_name.csv"), newline="") as f:
    return tuple(sorted(row["action"] for row in csv.DictReader(f)))


def _segment(value, source: str, video: str) -> Tuple[float, float]:
  """[start, end] (numbers or numeric strings) -> a checked (start, end)."""
  try:
    start, end = (float(v) for v in value)
  except (TypeError, ValueError):
    raise FeatureError(f"{source}: video {video}: segment {value!r}, expected [start, end] "
                       "in seconds") from None
  if not (math.isfinite(start) and math.isfinite(end)) or end < start:
    raise FeatureError(f"{source}: video {video}: segment {value!r}, expected finite "
                       "start <= end")
  return start, end


def _read_json(path: str):
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except OSError as e:
    raise FeatureError(f"cannot read {path}: {e}") from e
  except json.JSONDecodeError as e:
    raise FeatureError(f"{path}: not valid JSON ({e})") from e


def _annotation_from_entries(entries, split, duration, source, video) -> VideoAnnotation:
  """[{"segment": [s, e], "label": name}, ...] -> VideoAnnotation; Ambiguous set apart."""
  if not isinstance(entries, list):
    raise FeatureError(f"{source}: video {video}: 'annotations' must be a list")
  ann = VideoAnnotation(split, [], [], [], [], duration, source)
  for entry in entries:
    if not isinstance(entry, dict) or "segment" not in entry or "label" not in entry:
      raise FeatureError(f"{source}: video {video}: annotation {entry!r}, expected "
                         "{'segment': [start, end], 'label': name}")
    seg = _segment(entry["segment"], source, video)
    if entry["label"] == AMBIGUOUS:
      ann.ambiguous.append(seg)
    else:
      ann.segments.append(seg)
      ann.segment_labels.append(str(entry["label"]))
  return ann


def _duration(value, source: str, video: str) -> Optional[float]:
  if value is None:
    return None
  try:
    duration = float(value)
  except (TypeError, ValueError):
    duration = float("nan")
  if not math.isfinite(duration) or duration <= 0:
    raise FeatureError(f"{source}: video {video}: duration {value!r}, expected seconds > 0")
  return duration


def read_gt_json(path: str, dataset: str) -> Dict[str, VideoAnnotation]:
  """Reads an ActivityNet-`database`-format ground truth; videos of other subsets are left out."""
  data = _read_json(path)
  if not isinstance(data, dict) or not isinstance(data.get("database"), dict):
    raise FeatureError(f"{path}: expected the ActivityNet format {{'database': {{video: "
                       "{'subset': ..., 'annotations': [...]}}}}")
  subset_to_split = {s: split for split, subsets in _GT_SUBSETS[dataset].items()
                     for s in subsets}
  out = {}
  for video, entry in data["database"].items():
    if not isinstance(entry, dict) or "subset" not in entry:
      raise FeatureError(f"{path}: video {video}: expected a dict with 'subset' and "
                         "'annotations'")
    split = subset_to_split.get(str(entry["subset"]).lower())
    if split is None:
      continue
    out[video] = _annotation_from_entries(
        entry.get("annotations", []), split,
        _duration(entry.get("duration"), path, video), path, video)
  return out


@functools.lru_cache(maxsize=None)
def _thumos_shipped() -> Dict[str, VideoAnnotation]:
  """The shipped THUMOS'14 challenge files, with the durations of thumos14.json."""
  folder = os.path.join(_DATA_DIR, "thumos14")
  durations = {v: e.get("duration") for v, e in
               _read_json(os.path.join(folder, "thumos14.json"))["database"].items()}
  out: Dict[str, VideoAnnotation] = {}
  for sub, suffix, split in (("annotations_val", "_val.txt", "train"),
                             ("annotations_test", "_test.txt", "test")):
    for name in sorted(os.listdir(os.path.join(folder, sub))):
      if not name.endswith(suffix):
        continue
      label, path = name[:-len(suffix)], os.path.join(folder, sub, name)
      with open(path) as f:
        rows = [line.split() for line in f if line.strip()]
      for row in rows:
        if len(row) != 3:
          raise FeatureError(f"{path}: row {row!r}, expected 'video start end'")
        video = row[0]
        ann = out.setdefault(video, VideoAnnotation(
            split, [], [], [], [], durations.get(video), path))
        seg = _segment(row[1:], path, video)
        if label == AMBIGUOUS:
          ann.ambiguous.append(seg)
        else:
          ann.segments.append(seg)
          ann.segment_labels.append(label)
  return out


@functools.lru_cache(maxsize=None)
def _anet_shipped() -> Dict[str, VideoAnnotation]:
  """The shipped ActivityNet 1.3 annotations (BSN's files), training and validation videos."""
  folder = os.path.join(_DATA_DIR, "activitynet13")
  with open(os.path.join(folder, "video_info_new.csv"), newline="") as f:
    subsets = {row["video"]: row["subset"] for row in csv.DictReader(f)}
  path = os.path.join(folder, "anet_anno_action.json")
  split_of = {"training": "train", "validation": "test"}
  out = {}
  for video, entry in _read_json(path).items():
    split = split_of.get(subsets.get(video, ""))
    if split is not None:
      out[video] = _annotation_from_entries(
          entry["annotations"], split, _duration(entry.get("duration_second"), path, video),
          path, video)
  return out


def _shipped_ambiguous() -> Dict[str, List[Tuple[float, float]]]:
  return {v: a.ambiguous for v, a in _thumos_shipped().items() if a.ambiguous}


def _fill_ambiguous(gt: Dict[str, VideoAnnotation], dataset: str) -> None:
  """THUMOS'14 ground truth without any Ambiguous segment gets the shipped challenge ones."""
  if dataset != "thumos14" or any(a.ambiguous for a in gt.values()):
    return
  shipped = _shipped_ambiguous()
  for video, ann in gt.items():
    ann.ambiguous = list(shipped.get(video, []))


# The benchmarks' own names of our splits' subsets, used by `shipped_ground_truth`.
_OFFICIAL_SUBSET = {"thumos14": {"train": "validation", "test": "test"},
                    "activitynet13": {"train": "training", "test": "validation"}}


def shipped_ground_truth(dataset: str) -> dict:
  """The annotations shipped in `assg_tf/data`, as ActivityNet-format ground truth.

  What `python -m assg_tf.evaluate --ground_truth=thumos14` (or `activitynet13`) evaluates
  against. THUMOS'14: the challenge files, subsets `validation` (200 videos) and `test` (213),
  `Ambiguous` segments labelled "Ambiguous". ActivityNet 1.3: BSN's `anet_anno_action.json`
  (video ids `v_...`), subsets `training` and `validation`. Subsets carry the benchmarks' own
  names; videos are in sorted order.
  """
  _check_dataset(dataset)
  shipped = _thumos_shipped() if dataset == "thumos14" else _anet_shipped()
  database = {}
  for video in sorted(shipped):
    ann = shipped[video]
    entry = {"subset": _OFFICIAL_SUBSET[dataset][ann.split], "annotations": [
        {"label": label, "segment": list(seg)}
        for seg, label in zip(ann.segments, ann.segment_labels)] + [
            {"label": AMBIGUOUS, "segment": list(seg)} for seg in ann.ambiguous]}
    if ann.duration is not None:
      entry["duration"] = ann.duration
    database[video] = entry
  return {"version": f"assg_tf shipped {dataset} annotations", "database": database}


def folder_fingerprint(folder: str) -> str:
  """SHA-256 (hex) of the sorted lines `relative path, size, mtime in ns` of every file under
  `folder` (symlinks followed): changes when any file is added, removed, resized or
  rewritten, without reading the (possibly many GB of) features."""
  root = os.fspath(folder)
  lines = []
  for parent, _, files in os.walk(root, followlinks=True):
    for name in files:
      path = os.path.join(parent, name)
      stat = os.stat(path)
      lines.append(f"{os.path.relpath(path, root)}\t{stat.st_size}\t{stat.st_mtime_ns}")
  return hashlib.sha256("\n".join(sorted(lines)).encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------------------------
# Layout detection.


def _expected_paths(manual_dir: str, dataset: Optional[str]) -> str:
  datasets = [dataset] if dataset else list(DATASETS)
  subs = sorted({s for d in datasets for s in _SUBSET_FOLDER[d].values()})
  feats = os.path.join(manual_dir, "features")
  lines = ["  per_video (BaS-Net / UM / CoLA; without the flow folders: RGB only):"]
  lines += [f"    {os.path.join(feats, s, 'rgb', '<video>.npy')} and "
            f"{os.path.join(feats, s, 'flow', '<video>.npy')}  (float [T, {FEATURE_DIM}])"
            for s in subs]
  lines.append("  per_video_joint (ACM-Net):")
  lines += [f"    {os.path.join(feats, s, '<video>.npy')}  (float [T, {2 * FEATURE_DIM}], "
            "rgb first)" for s in subs]
  if dataset in (None, "thumos14"):
    ann = os.path.join(manual_dir, WTALC_ANNOTATIONS)
    lines.append("  wtalc (W-TALC, THUMOS'14):")
    lines.append(f"    {os.path.join(manual_dir, WTALC_FEATURES)} and "
                 f"{os.path.join(ann, '{' + ','.join(f[:-4] for f in _WTALC_REQUIRED) + '}.npy')}")
  lines.append(f"  optional for the per-video layouts: {os.path.join(manual_dir, 'gt.json')}, "
               + ", ".join(os.path.join(manual_dir, f"split_{s}.txt") for s in subs))
  return "\n".join(lines)


def _npy_stems(folder: str) -> List[str]:
  if not os.path.isdir(folder):
    return []
  return sorted(f[:-4] for f in os.listdir(folder)
                if f.endswith(".npy") and os.path.isfile(os.path.join(folder, f)))


def detect_layout(manual_dir: str, dataset: Optional[str] = None) -> str:
  """Which of `LAYOUTS` `manual_dir` holds (per_video, then per_video_joint, then wtalc).

  Args:
    manual_dir: the user's feature folder.
    dataset: "thumos14" or "activitynet13" to look only for that benchmark's subset folders;
      None accepts either.

  Raises:
    FeatureError: the folder is missing or holds none of the layouts; the message lists the
      exact expected paths of every layout.
  """
  if dataset is not None:
    _check_dataset(dataset)
  if not os.path.isdir(manual_dir):
    raise FeatureError(f"feature folder {manual_dir} does not exist; expected one of:\n"
                       + _expected_paths(manual_dir, dataset))
  datasets = [dataset] if dataset else list(DATASETS)
  subs = sorted({s for d in datasets for s in _SUBSET_FOLDER[d].values()})
  feats = os.path.join(manual_dir, "features")
  if any(os.path.isdir(os.path.join(feats, s, "rgb")) for s in subs):
    return "per_video"
  if any(_npy_stems(os.path.join(feats, s)) for s in subs):
    return "per_video_joint"
  if dataset in (None, "thumos14") and os.path.isfile(os.path.join(manual_dir, WTALC_FEATURES)):
    return "wtalc"
  raise FeatureError(f"no feature layout found in {manual_dir}; expected one of:\n"
                     + _expected_paths(manual_dir, dataset))


def missing_flow_folder(manual_dir: str, dataset: str) -> Optional[str]:
  """The first missing `features/<sub>/flow` folder of a per-video layout whose `rgb` folders
  are there (an RGB-only folder, e.g. from `python -m assg_tf.extract_features`); None when
  every subset has its flow folder or the layout is not per_video.

  Raises:
    FeatureError: as `detect_layout` (no folder, no layout).
  """
  if detect_layout(manual_dir, dataset) != "per_video":
    return None
  for sub in _SUBSET_FOLDER[dataset].values():
    folder = os.path.join(manual_dir, "features", sub)
    if os.path.isdir(os.path.join(folder, "rgb")) and not os.path.isdir(
        os.path.join(folder, "flow")):
      return os.path.join(folder, "flow")
  return None


# ----------------------------------------------------------------------------------------------
# Examples.


def make_example(video_id: str, rgb: np.ndarray, flow: np.ndarray, ann: VideoAnnotation,
                 class_names: Sequence[str], seconds_per_segment: float) -> dict:
  """The example dict of docs/DESIGN.md for one video (numpy values)."""
  index = {name: i for i, name in enumerate(class_names)}
  for label in list(ann.segment_labels) + list(ann.video_labels):
    if label not in index:
      shown = ", ".join(list(class_names)[:25]) + (", ..." if len(class_names) > 25 else "")
      raise FeatureError(f"{ann.source}: video {video_id}: label {label!r} is not in the "
                         f"class list ({len(class_names)} classes: {shown})")
  if ann.split == "train" and not (ann.segment_labels or ann.video_labels):
    raise FeatureError(f"{ann.source}: video {video_id} of the train split has an empty "
                       "label set; expected at least one class label")
  segments = np.asarray(ann.segments, np.float32).reshape(-1, 2)
  seg_labels = np.asarray([index[l] for l in ann.segment_labels], np.int64)
  order = np.lexsort((seg_labels, segments[:, 1], segments[:, 0]))
  labels = np.zeros(len(class_names), np.float32)
  labels[seg_labels] = 1.0
  labels[[index[l] for l in ann.video_labels]] = 1.0
  ambiguous = np.asarray(sorted(ann.ambiguous), np.float32).reshape(-1, 2)
  t = rgb.shape[0]
  duration = ann.duration if ann.duration is not None else t * seconds_per_segment
  return {
      "video_id": video_id,
      "rgb": rgb,
      "flow": flow,
      "num_segments": np.int32(t),
      "seconds_per_segment": np.float32(seconds_per_segment),
      "duration": np.float32(duration),
      "labels": labels,
      "segments": segments[order],
      "segment_labels": seg_labels[order],
      "ambiguous": ambiguous,
  }


def _match_stream_lengths(rgb, flow, rgb_path, flow_path):
  diff = abs(rgb.shape[0] - flow.shape[0])
  if diff > MAX_LENGTH_MISMATCH:
    raise FeatureError(f"rgb/flow length mismatch: {rgb_path} has {rgb.shape[0]} rows, "
                       f"{flow_path} has {flow.shape[0]}; expected equal lengths (up to "
                       f"{MAX_LENGTH_MISMATCH} rows, trimmed)")
  t = min(rgb.shape[0], flow.shape[0])
  return rgb[:t], flow[:t]


def _split_joint(array, path, expected_dim, rgb_only=False):
  """[T, 2D] joint features -> rgb [T, D], flow [T, D] (rgb first; [T, 0] with `rgb_only`)."""
  width = None if expected_dim is None else 2 * expected_dim
  array = check_features(array, path, width)
  if array.shape[1] % 2:
    raise FeatureError(f"{path}: joint features of shape {array.shape}, expected an even "
                       "width (rgb channels then flow channels)")
  half = array.shape[1] // 2
  return array[:, :half], array[:, 2 * half if rgb_only else half:]


def _read_split_file(path: str) -> List[str]:
  with open(path) as f:
    ids = [line.strip() for line in f if line.strip()]
  if len(set(ids)) != len(ids):
    raise FeatureError(f"{path}: video ids listed more than once")
  return ids


def _id_candidates(video: str) -> List[str]:
  """A ground-truth id and its ActivityNet `v_` variant."""
  return [video, video[2:]] if video.startswith("v_") else [video, "v_" + video]


def _members(manual_dir, dataset, split, gt, available) -> List[Tuple[str, str]]:
  """(ground-truth id, feature file stem) of the videos of `split`."""
  sub = _SUBSET_FOLDER[dataset][split]
  split_file = os.path.join(manual_dir, f"split_{sub}.txt")
  stem_of = {}
  for video in gt:
    for cand in _id_candidates(video):
      if cand in available:
        stem_of[video] = cand
        break
  if os.path.isfile(split_file):
    out, missing = [], []
    by_any = {c: v for v in gt for c in _id_candidates(v)}
    for listed in _read_split_file(split_file):
      video = listed if listed in gt else by_any.get(listed)
      if video is None or gt[video].split != split:
        raise FeatureError(f"{split_file}: video {listed} has no {split} ground truth")
      if video not in stem_of:
        missing.append(listed)
      else:
        out.append((video, stem_of[video]))
    if missing:
      raise FeatureError(f"{split_file}: {len(missing)} listed videos have no feature file, "
                         f"e.g. {missing[:5]}")
    return sorted(out)
  wanted = sorted(v for v, a in gt.items() if a.split == split)
  out = [(v, stem_of[v]) for v in wanted if v in stem_of]
  no_features = [v for v in wanted if v not in stem_of]
  used = {s for _, s in out}
  no_gt = sorted(set(available) - used)
  if no_features:
    logging.warning("%s split: %d videos of the ground truth have no features in %s and are "
                    "skipped, e.g. %s", split, len(no_features), manual_dir, no_features[:5])
  if no_gt:
    logging.warning("%s split: %d feature files have no %s ground truth and are skipped, "
                    "e.g. %s", split, len(no_gt), split, no_gt[:5])
  if not out:
    raise FeatureError(f"{manual_dir}: no video of the {split} split has both features and "
                       f"ground truth (subset folder {sub!r}, {len(wanted)} videos in the "
                       f"ground truth, {len(available)} feature files)")
  return out


def _ground_truth(manual_dir: str, dataset: str) -> Dict[str, VideoAnnotation]:
  gt_path = os.path.join(manual_dir, "gt.json")
  if os.path.isfile(gt_path):
    gt = read_gt_json(gt_path, dataset)
  else:
    shipped = _thumos_shipped() if dataset == "thumos14" else _anet_shipped()
    gt = {v: dataclasses.replace(a, segments=list(a.segments),
                                 segment_labels=list(a.segment_labels),
                                 ambiguous=list(a.ambiguous)) for v, a in shipped.items()}
  _fill_ambiguous(gt, dataset)
  return gt


def _read_per_video(manual_dir, dataset, split, class_names, seconds_per_segment,
                    expected_dim, keep, joint, rgb_only) -> Iterator[dict]:
  sub = _SUBSET_FOLDER[dataset][split]
  folder = os.path.join(manual_dir, "features", sub)
  rgb_dir, flow_dir = os.path.join(folder, "rgb"), os.path.join(folder, "flow")
  expected = folder if joint else rgb_dir
  if not os.path.isdir(expected):
    raise FeatureError(f"missing folder {expected} (the {split} split of the "
                       f"{'per_video_joint' if joint else 'per_video'} layout)")
  if not (joint or rgb_only or os.path.isdir(flow_dir)):
    raise FeatureError(f"missing folder {flow_dir} (the flow features of the {split} split); "
                       f"a folder of RGB features alone is the {dataset}_rgb dataset "
                       "(train --streams=rgb reads it)")
  available = _npy_stems(folder if joint else rgb_dir)
  gt = _ground_truth(manual_dir, dataset)
  for video, stem in _members(manual_dir, dataset, split, gt, set(available)):
    if keep is not None and not keep(video):
      continue
    if joint:
      path = os.path.join(folder, stem + ".npy")
      rgb, flow = _split_joint(read_npy(path), path, expected_dim, rgb_only)
    elif rgb_only:
      rgb_path = os.path.join(rgb_dir, stem + ".npy")
      rgb = check_features(read_npy(rgb_path), rgb_path, expected_dim)
      flow = np.zeros([len(rgb), 0], np.float32)
    else:
      rgb_path = os.path.join(rgb_dir, stem + ".npy")
      flow_path = os.path.join(flow_dir, stem + ".npy")
      if not os.path.isfile(flow_path):
        raise FeatureError(f"missing file: {flow_path} (the flow features of {rgb_path})")
      rgb = check_features(read_npy(rgb_path), rgb_path, expected_dim)
      flow = check_features(read_npy(flow_path), flow_path, expected_dim)
      rgb, flow = _match_stream_lengths(rgb, flow, rgb_path, flow_path)
    yield make_example(video, rgb, flow, gt[video], class_names, seconds_per_segment)


def _str(value) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read_wtalc_annotations(manual_dir: str) -> Dict[str, VideoAnnotation]:
  """W-TALC's annotation files -> {video: VideoAnnotation}, in the order of its arrays."""
  folder = os.path.join(manual_dir, WTALC_ANNOTATIONS)
  missing = [os.path.join(folder, f) for f in _WTALC_REQUIRED
             if not os.path.isfile(os.path.join(folder, f))]
  if missing:
    raise FeatureError("W-TALC layout: missing annotation files: " + ", ".join(missing))
  arrays = {f[:-4]: read_npy(os.path.join(folder, f)) for f in _WTALC_REQUIRED}
  for name in ("labels_all", "duration"):
    path = os.path.join(folder, name + ".npy")
    if os.path.isfile(path):
      arrays[name] = read_npy(path)
  n = len(arrays["videoname"])
  for name, array in arrays.items():
    if len(array) != n:
      raise FeatureError(f"{os.path.join(folder, name + '.npy')}: {len(array)} entries, "
                         f"expected {n} (one per video of videoname.npy)")
  durations = (np.asarray(arrays["duration"], np.float64).reshape(n, -1)[:, 0]
               if "duration" in arrays else None)
  split_of = {s: split for split, subs in _WTALC_SUBSETS.items() for s in subs}
  out = {}
  for i in range(n):
    video = _str(arrays["videoname"][i])
    subset = _str(arrays["subset"][i]).lower()
    source = os.path.join(folder, "segments.npy")
    if subset not in split_of:
      raise FeatureError(f"{os.path.join(folder, 'subset.npy')}: video {video}: subset "
                         f"{subset!r}, expected one of {sorted(split_of)}")
    segs, labs = list(arrays["segments"][i]), [_str(l) for l in arrays["labels"][i]]
    if len(segs) != len(labs):
      raise FeatureError(f"{source}: video {video}: {len(segs)} segments but {len(labs)} "
                         "labels in labels.npy, expected one label per segment")
    entries = [{"segment": s, "label": l} for s, l in zip(segs, labs)]
    duration = None if durations is None else _duration(durations[i], source, video)
    ann = _annotation_from_entries(entries, split_of[subset], duration, source, video)
    if "labels_all" in arrays:
      ann.video_labels = [_str(l) for l in arrays["labels_all"][i] if _str(l) != AMBIGUOUS]
    out[video] = ann
  return out


def _read_wtalc(manual_dir, split, class_names, seconds_per_segment, expected_dim,
                keep, rgb_only) -> Iterator[dict]:
  gt = read_wtalc_annotations(manual_dir)
  _fill_ambiguous(gt, "thumos14")
  path = os.path.join(manual_dir, WTALC_FEATURES)
  features = None  # the one file of every video's features: read when a video is kept
  rows = sorted((video, i) for i, video in enumerate(gt) if gt[video].split == split)
  for video, i in rows:
    if keep is not None and not keep(video):
      continue
    if features is None:
      features = read_npy(path)
      if features.ndim != 1 or len(features) != len(gt):
        raise FeatureError(f"{path}: array of shape {features.shape}, expected one [T, 2048] "
                           f"array per video of {WTALC_ANNOTATIONS}/videoname.npy ({len(gt)})")
    rgb, flow = _split_joint(features[i], f"{path}[{i}] ({video})", expected_dim, rgb_only)
    yield make_example(video, rgb, flow, gt[video], class_names, seconds_per_segment)


def read_videos(manual_dir: str,
                dataset: str,
                split: str,
                class_names: Sequence[str],
                seconds_per_segment: float = SECONDS_PER_SEGMENT,
                expected_dim: Optional[int] = None,
                keep: Optional[Callable[[str], bool]] = None,
                rgb_only: bool = False) -> Iterator[dict]:
  """Yields the examples of one split of a feature folder, in sorted video-id order.

  Args:
    manual_dir: the user's feature folder (any layout of `LAYOUTS`).
    dataset: "thumos14" or "activitynet13" (subset names, shipped ground truth).
    split: "train" or "test".
    class_names: the class list; label index = position in it.
    seconds_per_segment: delta, the seconds one feature row covers.
    expected_dim: the feature width per stream (joint files: twice this); None accepts any
      width (joint files split in half).
    keep: if given, only videos with keep(video_id) True are read (others are not loaded).
    rgb_only: read the rgb features alone (no flow folder needed); `flow` is float32 [T, 0].

  Yields:
    The example dict of docs/DESIGN.md: video_id, rgb, flow, num_segments,
    seconds_per_segment, duration, labels, segments, segment_labels, ambiguous.

  Raises:
    FeatureError: missing or unreadable files, wrong width, NaN/inf, T = 0, rgb/flow length
      mismatch, labels not in `class_names`, empty label sets in train, refused pickles.
  """
  _check_dataset(dataset)
  _check_split(split)
  layout = detect_layout(manual_dir, dataset)
  if layout == "wtalc":
    return _read_wtalc(manual_dir, split, class_names, seconds_per_segment, expected_dim, keep,
                       rgb_only)
  return _read_per_video(manual_dir, dataset, split, class_names, seconds_per_segment,
                         expected_dim, keep, layout == "per_video_joint", rgb_only)


def split_video_ids(manual_dir: str, dataset: str, split: str) -> List[str]:
  """The video ids `read_videos` yields for `split`, in its order, without reading features."""
  ids: List[str] = []
  for _ in read_videos(manual_dir, dataset, split, (), keep=lambda v: ids.append(v),
                       rgb_only=True):
    pass  # keep() records every id and returns None: no video is loaded
  return ids


# ---------------------------------------------------------------------------------------------
# New videos to predict (`python -m assg_tf.predict`).


def _npy_files(folder: str) -> Dict[str, str]:
  """{video_id: path} of the .npy files of a folder."""
  return {name[:-len(".npy")]: os.path.join(folder, name)
          for name in sorted(os.listdir(folder)) if name.endswith(".npy")}


def _read(path: str, width: int) -> np.ndarray:
  return check_features(read_npy(path), path, width)


def read_features(path: str, rgb_dim: int, flow_dim: int, flow_path: Optional[str] = None
                  ) -> List[Tuple[str, np.ndarray]]:
  """Reads the videos to predict: [(video_id, float32 [T, rgb_dim + flow_dim])], sorted by id.

  Args:
    path: a .npy file or a folder of them: joint features, or rgb when `flow_path` is given.
    rgb_dim, flow_dim: the widths the model was trained on.
    flow_path: flow features, a file (when `path` is a file) or a folder (when `path` is one).

  Raises:
    FeatureError naming the offending file.
  """
  if not os.path.exists(path):
    raise FeatureError(f"missing features: {path} is neither a .npy file nor a folder")
  if flow_path is not None and not os.path.exists(flow_path):
    raise FeatureError(f"missing flow features: {flow_path} is neither a .npy file nor a folder")
  if os.path.isdir(path):
    rgb_files = _npy_files(path)
    if not rgb_files:
      raise FeatureError(f"{path}: no .npy feature files in the folder")
    if flow_path is None:
      pairs = {video: (file, None) for video, file in rgb_files.items()}
    else:
      if not os.path.isdir(flow_path):
        raise FeatureError(f"--flow_features={flow_path} must be a folder when --features="
                           f"{path} is a folder (files are matched by name)")
      flow_files = _npy_files(flow_path)
      for video in sorted(set(rgb_files) ^ set(flow_files)):
        have, lack = ((rgb_files[video], flow_path) if video in rgb_files
                      else (flow_files[video], path))
        raise FeatureError(f"{have} has no counterpart {video}.npy in {lack}; rgb and flow "
                           "folders must hold the same file names")
      pairs = {video: (rgb_files[video], flow_files[video]) for video in rgb_files}
  else:
    if flow_path is not None and os.path.isdir(flow_path):
      raise FeatureError(f"--flow_features={flow_path} is a folder but --features={path} is a "
                         "file; give two files or two folders")
    video = os.path.basename(path)
    video = video[:-len(".npy")] if video.endswith(".npy") else video
    pairs = {video: (path, flow_path)}

  videos = []
  for video, (first, flow_file) in sorted(pairs.items()):
    if flow_file is None:
      joint = _read(first, rgb_dim + flow_dim)
    else:
      rgb, flow = _match_stream_lengths(
          _read(first, rgb_dim), _read(flow_file, flow_dim), first, flow_file)
      joint = np.concatenate([rgb, flow], axis=1)
    videos.append((video, joint))
  return videos
