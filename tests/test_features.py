"""Tests of assg_tf.features: every layout of docs/DESIGN.md "Data" and every bad input of
docs/DESIGN.md "Bad input"."""
import dataclasses
import json
import os
import pickle

import numpy as np
import pytest

from assg_tf import features

THUMOS = list(features.class_names("thumos14"))
ANET = list(features.class_names("activitynet13"))
DELTA = features.SECONDS_PER_SEGMENT


def _save(path, array):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  np.save(path, array, allow_pickle=array.dtype.hasobject)


def _feats(t, d, seed):
  return np.random.default_rng(seed).normal(size=(t, d)).astype(np.float32)


def _write_json(path, obj):
  with open(path, "w") as f:
    json.dump(obj, f)


def _per_video(root, videos, sub_of, d=4):
  """videos: {id: T}; writes features/<sub>/{rgb,flow}/<id>.npy; returns {id: (rgb, flow)}."""
  out = {}
  for i, (video, t) in enumerate(sorted(videos.items())):
    rgb, flow = _feats(t, d, 2 * i), _feats(t, d, 2 * i + 1)
    _save(os.path.join(root, "features", sub_of[video], "rgb", video + ".npy"), rgb)
    _save(os.path.join(root, "features", sub_of[video], "flow", video + ".npy"), flow)
    out[video] = (rgb, flow)
  return out


BASNET_GT = {"database": {
    "video_validation_0000160": {"subset": "train", "annotations": [
        {"segment": ["20.5", "24.0"], "label": "HighJump"},
        {"segment": ["3.0", "5.5"], "label": "LongJump"}]},
    "video_validation_0000051": {"subset": "train", "annotations": [
        {"segment": ["1.0", "2.0"], "label": "Billiards"}]},
    "video_test_0000004": {"subset": "test", "annotations": [
        {"segment": [0.2, 1.1], "label": "CricketBowling"}]},
}}


@pytest.fixture
def basnet_dir(tmp_path):
  root = str(tmp_path / "basnet")
  sub = {"video_validation_0000160": "train", "video_validation_0000051": "train",
         "video_test_0000004": "test"}
  data = _per_video(root, {"video_validation_0000160": 6, "video_validation_0000051": 3,
                           "video_test_0000004": 2}, sub)
  _write_json(os.path.join(root, "gt.json"), BASNET_GT)
  return root, data


def test_per_video_with_gt_json(basnet_dir):
  root, data = basnet_dir
  assert features.detect_layout(root) == "per_video"
  train = list(features.read_videos(root, "thumos14", "train", THUMOS))
  assert [e["video_id"] for e in train] == ["video_validation_0000051",
                                            "video_validation_0000160"]
  ex = train[1]
  np.testing.assert_array_equal(ex["rgb"], data["video_validation_0000160"][0])
  np.testing.assert_array_equal(ex["flow"], data["video_validation_0000160"][1])
  assert ex["rgb"].dtype == np.float32 and ex["num_segments"] == 6
  assert ex["num_segments"].dtype == np.int32
  assert ex["seconds_per_segment"] == np.float32(DELTA)
  # BaS-Net's gt has no duration: T * delta.
  assert ex["duration"] == np.float32(6 * DELTA)
  # Segments sorted by start; labels are indices into the class list.
  np.testing.assert_array_equal(ex["segments"], np.float32([[3.0, 5.5], [20.5, 24.0]]))
  np.testing.assert_array_equal(ex["segment_labels"],
                                [THUMOS.index("LongJump"), THUMOS.index("HighJump")])
  assert ex["segment_labels"].dtype == np.int64
  expected = np.zeros(20, np.float32)
  expected[[THUMOS.index("LongJump"), THUMOS.index("HighJump")]] = 1
  np.testing.assert_array_equal(ex["labels"], expected)
  # No Ambiguous in the user's gt: the shipped challenge Ambiguous_val.txt rows of this video.
  assert ex["ambiguous"].shape == (3, 2)
  np.testing.assert_allclose(ex["ambiguous"][0], [155.2, 160.6], rtol=1e-6)
  assert train[0]["ambiguous"].shape == (0, 2)
  test = list(features.read_videos(root, "thumos14", "test", THUMOS))
  assert [e["video_id"] for e in test] == ["video_test_0000004"]
  np.testing.assert_allclose(test[0]["segments"], [[0.2, 1.1]], rtol=1e-6)


def test_split_files_define_membership(basnet_dir):
  root, _ = basnet_dir
  with open(os.path.join(root, "split_train.txt"), "w") as f:
    f.write("video_validation_0000160\n")
  train = list(features.read_videos(root, "thumos14", "train", THUMOS))
  assert [e["video_id"] for e in train] == ["video_validation_0000160"]
  with open(os.path.join(root, "split_train.txt"), "a") as f:
    f.write("video_validation_0000999\n")
  with pytest.raises(features.FeatureError,
                     match=r"split_train.txt: video video_validation_0000999 has no train"):
    list(features.read_videos(root, "thumos14", "train", THUMOS))


def test_keep_filters_before_reading(basnet_dir):
  root, _ = basnet_dir
  kept = list(features.read_videos(root, "thumos14", "train", THUMOS,
                                   keep=lambda v: v.endswith("51")))
  assert [e["video_id"] for e in kept] == ["video_validation_0000051"]


def test_per_video_shipped_thumos_annotations(tmp_path):
  root = str(tmp_path)
  # video_test_0001292 has only Ambiguous segments: an empty label set is fine in test.
  _per_video(root, {"video_validation_0000051": 5, "video_test_0001292": 4, "video_x": 3},
             {"video_validation_0000051": "train", "video_test_0001292": "test",
              "video_x": "test"})
  (train,) = features.read_videos(root, "thumos14", "train", THUMOS)
  assert train["video_id"] == "video_validation_0000051"
  # The challenge files: BaseballPitch_val.txt rows of this video and thumos14.json's duration.
  expected = []
  folder = os.path.join(features._DATA_DIR, "thumos14", "annotations_val")
  for name in os.listdir(folder):
    if name.endswith("_val.txt") and not name.startswith("Ambiguous"):
      with open(os.path.join(folder, name)) as f:
        expected += [(float(r[1]), float(r[2])) for r in map(str.split, f)
                     if r and r[0] == "video_validation_0000051"]
  np.testing.assert_allclose(train["segments"], sorted(expected), rtol=1e-6)
  with open(os.path.join(features._DATA_DIR, "thumos14", "thumos14.json")) as f:
    duration = json.load(f)["database"]["video_validation_0000051"]["duration"]
  assert train["duration"] == np.float32(duration)
  # video_x has no ground truth: skipped with a warning.
  (test,) = features.read_videos(root, "thumos14", "test", THUMOS)
  assert test["video_id"] == "video_test_0001292"
  assert test["segments"].shape == (0, 2) and test["labels"].sum() == 0
  assert test["ambiguous"].shape[0] > 0


def test_per_video_joint(tmp_path):
  root = str(tmp_path)
  joint = _feats(5, 8, 0)
  _save(os.path.join(root, "features", "train", "video_validation_0000051.npy"), joint)
  assert features.detect_layout(root) == "per_video_joint"
  (ex,) = features.read_videos(root, "thumos14", "train", THUMOS)
  np.testing.assert_array_equal(ex["rgb"], joint[:, :4])
  np.testing.assert_array_equal(ex["flow"], joint[:, 4:])
  with pytest.raises(features.FeatureError, match=r"shape \(5, 8\), expected width 2048"):
    list(features.read_videos(root, "thumos14", "train", THUMOS, expected_dim=1024))


def _object_array(items):
  out = np.empty(len(items), dtype=object)
  for i, item in enumerate(items):
    out[i] = item
  return out


def _write_wtalc(root, feats, names, subsets, segments, labels, labels_all=None,
                 durations=None):
  ann = os.path.join(root, features.WTALC_ANNOTATIONS)
  _save(os.path.join(root, features.WTALC_FEATURES), _object_array(feats))
  _save(os.path.join(ann, "videoname.npy"), np.array([n.encode() for n in names]))
  _save(os.path.join(ann, "subset.npy"), np.array([s.encode() for s in subsets]))
  _save(os.path.join(ann, "segments.npy"), _object_array(segments))
  _save(os.path.join(ann, "labels.npy"), _object_array(labels))
  _save(os.path.join(ann, "classlist.npy"), np.array([c.encode() for c in THUMOS]))
  if labels_all is not None:
    _save(os.path.join(ann, "labels_all.npy"), _object_array(labels_all))
  if durations is not None:
    _save(os.path.join(ann, "duration.npy"), np.asarray(durations, np.float64).reshape(-1, 1))


def test_wtalc(tmp_path):
  root = str(tmp_path)
  feats = [_feats(4, 6, 0), _feats(3, 6, 1), _feats(2, 6, 2)]
  _write_wtalc(
      root, feats,
      ["video_validation_0000160", "video_test_0000004", "video_validation_0000051"],
      ["validation", "test", "validation"],
      [[[1.0, 2.5], [0.5, 0.9]], [[0.2, 1.1]], []],
      [["Diving", "CliffDiving"], ["CricketBowling"], []],
      labels_all=[["Diving", "CliffDiving"], ["CricketBowling"], ["Billiards"]],
      durations=[200.0, 33.83, 10.0])
  assert features.detect_layout(root) == "wtalc"
  train = list(features.read_videos(root, "thumos14", "train", THUMOS))
  assert [e["video_id"] for e in train] == ["video_validation_0000051",
                                            "video_validation_0000160"]
  # A video-level label without segments (labels_all) still counts.
  assert train[0]["labels"][THUMOS.index("Billiards")] == 1
  assert train[0]["segments"].shape == (0, 2)
  ex = train[1]
  np.testing.assert_array_equal(ex["rgb"], feats[0][:, :3])
  np.testing.assert_array_equal(ex["flow"], feats[0][:, 3:])
  np.testing.assert_array_equal(ex["segments"], np.float32([[0.5, 0.9], [1.0, 2.5]]))
  np.testing.assert_array_equal(ex["segment_labels"],
                                [THUMOS.index("CliffDiving"), THUMOS.index("Diving")])
  assert ex["duration"] == np.float32(200.0)
  assert ex["ambiguous"].shape == (3, 2)  # shipped Ambiguous_val.txt
  (test,) = features.read_videos(root, "thumos14", "test", THUMOS)
  assert test["video_id"] == "video_test_0000004" and test["num_segments"] == 3


def test_wtalc_refuses_malicious_features(tmp_path):
  root = str(tmp_path)
  _write_wtalc(root, [_feats(2, 4, 0)], ["video_validation_0000051"], ["validation"],
               [[[0.0, 1.0]]], [["Billiards"]])
  marker = tmp_path / "pwned"

  class Evil:

    def __reduce__(self):
      return (os.system, (f"touch {marker}",))

  path = os.path.join(root, features.WTALC_FEATURES)
  _save(path, _object_array([Evil()]))
  with pytest.raises(features.FeatureError,
                     match=r"I3D-JOINTFeatures.npy: refusing to unpickle the global "
                     r"'(posix|os|nt)\.system'"):
    list(features.read_videos(root, "thumos14", "train", THUMOS))
  assert not marker.exists()


def test_allow_list_unpickler_round_trips_numpy(tmp_path):
  arrays = _object_array([_feats(3, 2, 0), np.arange(4, dtype=np.int64),
                          [np.float64(1.5), "label"]])
  path = str(tmp_path / "obj.npy")
  _save(path, arrays)
  loaded = features.read_npy(path)
  assert loaded.dtype == object and len(loaded) == 3
  np.testing.assert_array_equal(loaded[0], arrays[0])
  np.testing.assert_array_equal(loaded[1], arrays[1])
  assert loaded[2] == [1.5, "label"]
  for protocol in (2, 3, 4, 5):  # protocol 2 uses _codecs.encode, 5 uses _frombuffer
    back = features.unpickle(pickle.dumps(arrays, protocol=protocol))
    np.testing.assert_array_equal(back[0], arrays[0])
  plain = str(tmp_path / "plain.npy")
  np.save(plain, np.asfortranarray(_feats(3, 5, 1)))
  np.testing.assert_array_equal(features.read_npy(plain), _feats(3, 5, 1))


@pytest.mark.parametrize("payload, refused", [
    (pickle.dumps(eval), "builtins.eval"),
    (b"cos\nsystem\n(S'echo hi'\ntR.", "os.system"),
    (b"c_codecs\nencode\n(S'x'\nS'rot13'\ntR.", "not a readable pickle"),
])
def test_allow_list_unpickler_refuses(payload, refused):
  with pytest.raises(features.FeatureError, match=refused):
    features.unpickle(payload, "evil.pkl")


def test_activitynet_database_gt(tmp_path):
  root = str(tmp_path)
  # Official gt keys have no v_ prefix; feature files often have it.
  _per_video(root, {"v_abc": 4, "v_def": 3, "v_ghi": 2},
             {"v_abc": "training", "v_def": "validation", "v_ghi": "validation"})
  _write_json(os.path.join(root, "gt.json"), {"version": "VERSION 1.3", "database": {
      "abc": {"subset": "training", "duration": 12.5,
              "annotations": [{"segment": [1.0, 9.0], "label": "Archery"}]},
      "def": {"subset": "validation", "duration": 8.0,
              "annotations": [{"segment": [0.0, 3.0], "label": "Zumba"}]},
      "zzz": {"subset": "testing", "annotations": []}}})
  assert features.detect_layout(root, "activitynet13") == "per_video"
  (train,) = features.read_videos(root, "activitynet13", "train", ANET)
  assert train["video_id"] == "abc" and train["duration"] == np.float32(12.5)
  assert train["labels"].shape == (200,) and train["labels"][ANET.index("Archery")] == 1
  assert train["ambiguous"].shape == (0, 2)
  # ActivityNet's validation subset is our test split; v_ghi has no gt and is skipped.
  (test,) = features.read_videos(root, "activitynet13", "test", ANET)
  assert test["video_id"] == "def" and test["segment_labels"].tolist() == [ANET.index("Zumba")]


def test_activitynet_shipped_annotations(tmp_path):
  root = str(tmp_path)
  joint = _feats(3, 4, 0)
  _save(os.path.join(root, "features", "training", "v_QOlSCBRmfWY.npy"), joint)
  (ex,) = features.read_videos(root, "activitynet13", "train", ANET)
  assert ex["video_id"] == "v_QOlSCBRmfWY"
  np.testing.assert_allclose(ex["segments"], [[6.195294851794072, 77.73085420904837]],
                             rtol=1e-6)
  assert ex["segment_labels"].tolist() == [ANET.index("Ballet")]
  assert ex["duration"] == np.float32(82.73)


def test_synthetic_per_video_layout(tmp_path):
  from assg_tf import synthetic  # pylint: disable=g-import-not-at-top
  spec = dataclasses.replace(synthetic.SPECS["synthetic"], num_train_videos=4,
                             num_test_videos=2)
  root = str(tmp_path)
  synthetic.write_per_video_layout(spec, root)
  names = synthetic.class_names(spec)
  assert features.detect_layout(root) == "per_video"
  for split in ("train", "test"):
    expected = {e["video_id"]: e for e in synthetic.generate_split(spec, split)}
    read = list(features.read_videos(root, "thumos14", split, names))
    assert len(read) == {"train": 4, "test": 2}[split]
    assert sorted(expected) == [e["video_id"] for e in read]
    for ex in read:
      want = expected[ex["video_id"]]
      np.testing.assert_allclose(ex["rgb"], want["rgb"], rtol=1e-6)
      np.testing.assert_allclose(ex["flow"], want["flow"], rtol=1e-6)
      np.testing.assert_array_equal(ex["labels"], want["labels"])
      np.testing.assert_allclose(ex["segments"], want["segments"], rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------------------------
# Bad input.


def test_missing_folder_lists_expected_paths(tmp_path):
  missing = str(tmp_path / "nope")
  with pytest.raises(features.FeatureError) as err:
    features.detect_layout(missing, "thumos14")
  message = str(err.value)
  assert f"feature folder {missing} does not exist" in message
  for path in ("features/train/rgb/<video>.npy", "features/test/flow/<video>.npy",
               "features/train/<video>.npy", features.WTALC_FEATURES,
               features.WTALC_ANNOTATIONS + "/{videoname,subset,segments,labels}.npy",
               "gt.json", "split_test.txt"):
    assert os.path.join(missing, path) in message


def test_empty_folder_lists_expected_paths(tmp_path):
  with pytest.raises(features.FeatureError, match=r"no feature layout found") as err:
    features.detect_layout(str(tmp_path), "activitynet13")
  assert os.path.join(str(tmp_path), "features/validation/rgb/<video>.npy") in str(err.value)
  assert features.WTALC_FEATURES not in str(err.value)  # W-TALC is THUMOS'14 only


def _one_video(tmp_path, rgb, flow, gt_labels=("Billiards",), split="train"):
  root = str(tmp_path)
  video = "video_validation_0000051"
  sub = split
  _save(os.path.join(root, "features", sub, "rgb", video + ".npy"), rgb)
  if flow is not None:
    _save(os.path.join(root, "features", sub, "flow", video + ".npy"), flow)
  _write_json(os.path.join(root, "gt.json"), {"database": {video: {
      "subset": split,
      "annotations": [{"segment": [0, 1], "label": l} for l in gt_labels]}}})
  return root, os.path.join(root, "features", sub, "rgb", video + ".npy")


def _read(root, **kw):
  return list(features.read_videos(root, "thumos14", "train", THUMOS, **kw))


def test_wrong_width(tmp_path):
  root, rgb_path = _one_video(tmp_path, _feats(3, 1000, 0), _feats(3, 1024, 1))
  with pytest.raises(features.FeatureError, match=(
      re_path(rgb_path) + r": features of shape \(3, 1000\), expected width 1024")):
    _read(root, expected_dim=1024)


def re_path(path):
  import re  # pylint: disable=g-import-not-at-top
  return re.escape(path)


def test_nan_and_inf(tmp_path):
  rgb = _feats(4, 3, 0)
  rgb[1, 2], rgb[3, 0] = np.nan, np.inf
  root, rgb_path = _one_video(tmp_path, rgb, _feats(4, 3, 1))
  with pytest.raises(features.FeatureError,
                     match=re_path(rgb_path) + r": 2 NaN/inf values in features of shape"):
    _read(root)


def test_zero_length(tmp_path):
  root, rgb_path = _one_video(tmp_path, np.zeros((0, 3), np.float32),
                              np.zeros((0, 3), np.float32))
  with pytest.raises(features.FeatureError,
                     match=re_path(rgb_path) + r": zero-length video \(T = 0\)"):
    _read(root)


def test_length_mismatch(tmp_path):
  root, _ = _one_video(tmp_path, _feats(10, 3, 0), _feats(8, 3, 1))
  (ex,) = _read(root)  # two rows: trimmed to the shorter
  assert ex["num_segments"] == 8 and ex["rgb"].shape == (8, 3) and ex["flow"].shape == (8, 3)
  np.testing.assert_array_equal(ex["rgb"], _feats(10, 3, 0)[:8])
  root, rgb_path = _one_video(tmp_path, _feats(10, 3, 0), _feats(7, 3, 1))
  with pytest.raises(features.FeatureError, match=(
      r"rgb/flow length mismatch: " + re_path(rgb_path) + r" has 10 rows, .*flow.* has 7")):
    _read(root)


def test_missing_flow_file(tmp_path):
  root, _ = _one_video(tmp_path, _feats(3, 3, 0), None)
  os.makedirs(os.path.join(root, "features", "train", "flow"))  # the folder, not the file
  with pytest.raises(features.FeatureError, match=r"missing file: .*flow/video_validation_0000051"
                     r"\.npy"):
    _read(root)


def test_rgb_only_per_video_layout(tmp_path):
  """docs/DESIGN.md "RGB-only data": rgb/ folders only, as extract_features writes them."""
  rgb = _feats(5, 3, 0)
  root, _ = _one_video(tmp_path, rgb, None)
  flow_dir = os.path.join(root, "features", "train", "flow")
  assert features.detect_layout(root, "thumos14") == "per_video"
  assert features.missing_flow_folder(root, "thumos14") == flow_dir
  (ex,) = _read(root, rgb_only=True)
  np.testing.assert_array_equal(ex["rgb"], rgb)
  assert ex["flow"].shape == (5, 0) and ex["flow"].dtype == np.float32
  assert ex["num_segments"] == 5 and ex["labels"][THUMOS.index("Billiards")] == 1
  with pytest.raises(features.FeatureError, match=(
      f"missing folder {re_path(flow_dir)} \\(the flow features of the train split\\); a "
      "folder of RGB features alone is the thumos14_rgb dataset")):
    _read(root)
  _one_video(tmp_path, np.zeros([0, 3], np.float32), None)
  with pytest.raises(features.FeatureError, match="zero-length video"):  # still checked
    _read(root, rgb_only=True)


def test_rgb_only_reading_of_two_stream_layouts(tmp_path):
  rgb, flow = _feats(4, 3, 0), _feats(4, 3, 1)
  root, _ = _one_video(tmp_path / "per_video", rgb, flow)
  assert features.missing_flow_folder(root, "thumos14") is None
  (ex,) = _read(root, rgb_only=True)  # the flow files are not read
  np.testing.assert_array_equal(ex["rgb"], rgb)
  assert ex["flow"].shape == (4, 0)
  joint = str(tmp_path / "joint")
  _save(os.path.join(joint, "features", "train", "video_validation_0000051.npy"),
        np.concatenate([rgb, flow], axis=1))
  assert features.missing_flow_folder(joint, "thumos14") is None
  (ex,) = features.read_videos(joint, "thumos14", "train", THUMOS, rgb_only=True)
  np.testing.assert_array_equal(ex["rgb"], rgb)
  assert ex["flow"].shape == (4, 0)


def test_label_not_in_class_list(tmp_path):
  root, _ = _one_video(tmp_path, _feats(3, 3, 0), _feats(3, 3, 1), gt_labels=("Jogging",))
  with pytest.raises(features.FeatureError, match=(
      r"gt.json: video video_validation_0000051: label 'Jogging' is not in the class list "
      r"\(20 classes")):
    _read(root)


def test_empty_label_set_in_train(tmp_path):
  root, _ = _one_video(tmp_path, _feats(3, 3, 0), _feats(3, 3, 1), gt_labels=())
  with pytest.raises(features.FeatureError, match=(
      r"gt.json: video video_validation_0000051 of the train split has an empty label set")):
    _read(root)


def test_bad_gt_json(tmp_path):
  root, _ = _one_video(tmp_path, _feats(3, 3, 0), _feats(3, 3, 1))
  _write_json(os.path.join(root, "gt.json"), {"v1": {"annotations": []}})
  with pytest.raises(features.FeatureError, match=r"gt.json: expected the ActivityNet format"):
    _read(root)
  _write_json(os.path.join(root, "gt.json"), {"database": {"video_validation_0000051": {
      "subset": "train", "annotations": [{"segment": [5, 1], "label": "Billiards"}]}}})
  with pytest.raises(features.FeatureError, match=r"segment \[5, 1\], expected finite start"):
    _read(root)


def test_not_an_npy_file(tmp_path):
  root, rgb_path = _one_video(tmp_path, _feats(3, 3, 0), _feats(3, 3, 1))
  with open(rgb_path, "wb") as f:
    f.write(b"garbage")
  with pytest.raises(features.FeatureError, match=re_path(rgb_path) + r": not a \.npy file"):
    _read(root)


def test_wtalc_missing_annotation_file(tmp_path):
  root = str(tmp_path)
  _write_wtalc(root, [_feats(2, 4, 0)], ["video_validation_0000051"], ["validation"],
               [[[0.0, 1.0]]], [["Billiards"]])
  os.remove(os.path.join(root, features.WTALC_ANNOTATIONS, "labels.npy"))
  with pytest.raises(features.FeatureError, match=r"missing annotation files: .*labels\.npy"):
    _read(root)
