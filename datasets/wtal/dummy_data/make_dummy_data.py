"""Writes the dummy feature folders of the `wtal` builder tests, one per layout (docs/DESIGN.md
"Data").

    python datasets/wtal/dummy_data/make_dummy_data.py

Real video ids and their real annotations (the files shipped in `assg_tf/data`), random float32
features of the real width (1024 per stream) but only 3-4 rows per video, so that the folders
stay small enough to commit. Deterministic: the same files on every run.

- thumos14_per_video/: features/{train,test}/{rgb,flow}/<video>.npy, a BaS-Net-style gt.json
  (string segment bounds, subsets train/test) and split_{train,test}.txt.
- thumos14_rgb/: features/{train,test}/rgb/<video>.npy only (no flow folders, as
  `python -m assg_tf.extract_features` writes them; the rgb files of thumos14_per_video) and
  the same gt.json, no split files: the RGB-only configs.
- thumos14_joint/: features/{train,test}/<video>.npy [T, 2048]; no gt.json (the shipped
  challenge annotations are used); one test file without annotations (skipped).
- thumos14_wtalc/: W-TALC's Thumos14reduced-I3D-JOINTFeatures.npy and annotation files.
- activitynet13/: features/{training,validation}/{rgb,flow}/v_<id>.npy; no gt.json (the shipped
  BSN annotations are used).

Each folder holds 3 training videos, one of which the builder holds out as `validation`
(`video_validation_0000053` and `v_D18b2IZpxk0` hash to it), and 2 test videos.
"""
import json
import os
import shutil

import numpy as np

from assg_tf import features

HERE = os.path.dirname(os.path.abspath(__file__))
D = features.FEATURE_DIM
THUMOS_TRAIN = ["video_validation_0000051", "video_validation_0000052",
                "video_validation_0000053"]
THUMOS_TEST = ["video_test_0000004", "video_test_0000278"]  # 0000278: 2 Ambiguous
ANET_TRAIN = ["v_QOlSCBRmfWY", "v_ehGHCYKzyZ8", "v_D18b2IZpxk0"]
ANET_TEST = ["v_K6Tm5xHkJ5c", "v_4Lu8ECLHvK4"]


def _feats(video: str, stream: str, t: int) -> np.ndarray:
  seed = int.from_bytes((video + stream).encode()[-8:], "big") % 2**32
  return np.random.default_rng(seed).normal(size=(t, D)).astype(np.float32)


def _length(video: str) -> int:
  return 3 + sum(video.encode()) % 2  # 3 or 4 rows


def _save(path: str, array: np.ndarray) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  np.save(path, array, allow_pickle=array.dtype.hasobject)


def _object_array(items) -> np.ndarray:
  out = np.empty(len(items), dtype=object)
  for i, item in enumerate(items):
    out[i] = item
  return out


def _per_video(root: str, videos_by_sub, joint: bool = False, flow: bool = True) -> None:
  for sub, videos in videos_by_sub.items():
    for video in videos:
      t = _length(video)
      rgb = _feats(video, "rgb", t)
      if joint:
        _save(os.path.join(root, "features", sub, video + ".npy"),
              np.concatenate([rgb, _feats(video, "flow", t)], axis=1))
        continue
      _save(os.path.join(root, "features", sub, "rgb", video + ".npy"), rgb)
      if flow:
        _save(os.path.join(root, "features", sub, "flow", video + ".npy"),
              _feats(video, "flow", t))


def _thumos_gt_json(root: str) -> None:
  with open(os.path.join(features._DATA_DIR, "thumos14", "gt_basnet_210.json")) as f:  # pylint: disable=protected-access
    database = json.load(f)["database"]
  gt = {"database": {v: database[v] for v in THUMOS_TRAIN + THUMOS_TEST}}
  with open(os.path.join(root, "gt.json"), "w") as f:
    json.dump(gt, f, indent=1)


def thumos14_per_video(root: str) -> None:
  _per_video(root, {"train": THUMOS_TRAIN, "test": THUMOS_TEST})
  _thumos_gt_json(root)
  for sub, videos in (("train", THUMOS_TRAIN), ("test", THUMOS_TEST)):
    with open(os.path.join(root, f"split_{sub}.txt"), "w") as f:
      f.write("".join(v + "\n" for v in videos))


def thumos14_rgb(root: str) -> None:
  _per_video(root, {"train": THUMOS_TRAIN, "test": THUMOS_TEST}, flow=False)
  _thumos_gt_json(root)


def thumos14_joint(root: str) -> None:
  _per_video(root, {"train": THUMOS_TRAIN, "test": THUMOS_TEST + ["video_test_9999999"]},
             joint=True)


def thumos14_wtalc(root: str) -> None:
  shipped = features._thumos_shipped()  # pylint: disable=protected-access
  videos = THUMOS_TRAIN + THUMOS_TEST
  feats = [np.concatenate([_feats(v, "rgb", _length(v)), _feats(v, "flow", _length(v))], 1)
           for v in videos]
  ann = os.path.join(root, features.WTALC_ANNOTATIONS)
  _save(os.path.join(root, features.WTALC_FEATURES), _object_array(feats))
  _save(os.path.join(ann, "videoname.npy"), np.array([v.encode() for v in videos]))
  _save(os.path.join(ann, "subset.npy"),
        np.array([b"validation"] * len(THUMOS_TRAIN) + [b"test"] * len(THUMOS_TEST)))
  _save(os.path.join(ann, "segments.npy"),
        _object_array([[list(s) for s in shipped[v].segments] for v in videos]))
  _save(os.path.join(ann, "labels.npy"),
        _object_array([list(shipped[v].segment_labels) for v in videos]))
  _save(os.path.join(ann, "labels_all.npy"),
        _object_array([sorted(set(shipped[v].segment_labels)) for v in videos]))
  _save(os.path.join(ann, "classlist.npy"),
        np.array([c.encode() for c in features.class_names("thumos14")]))
  _save(os.path.join(ann, "duration.npy"),
        np.array([[shipped[v].duration] for v in videos], np.float64))


def activitynet13(root: str) -> None:
  _per_video(root, {"training": ANET_TRAIN, "validation": ANET_TEST})


def main() -> None:
  for name, write in (("thumos14_per_video", thumos14_per_video),
                      ("thumos14_rgb", thumos14_rgb),
                      ("thumos14_joint", thumos14_joint),
                      ("thumos14_wtalc", thumos14_wtalc),
                      ("activitynet13", activitynet13)):
    root = os.path.join(HERE, name)
    shutil.rmtree(root, ignore_errors=True)
    write(root)


if __name__ == "__main__":
  main()
