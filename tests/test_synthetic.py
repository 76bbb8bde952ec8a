"""Tests of assg_tf.synthetic: the example contract, determinism, the structure ASSG attacks,
the real layouts, and the per-video writer."""
import dataclasses
import json
import os

import numpy as np
import pytest

from assg_tf import synthetic

TINY = synthetic.SPECS["synthetic"]


@pytest.fixture(scope="module")
def tiny_train():
  """[(example, structure)] of the tiny spec's train split."""
  return [synthetic.generate_video(TINY, layout)
          for layout in synthetic.video_layouts(TINY, "train")]


def test_spec_names():
  assert set(synthetic.SPECS) == {"synthetic", "synthetic_thumos", "synthetic_anet"}
  assert synthetic.SPECS["synthetic_thumos"].num_classes == 20
  assert synthetic.SPECS["synthetic_thumos"].feature_dim == 256
  assert synthetic.SPECS["synthetic_anet"].feature_dim == 256


def test_example_contract(tiny_train):
  names = synthetic.class_names(TINY)
  assert len(names) == TINY.num_classes
  examples = list(synthetic.generate_split(TINY, "train"))
  assert len(examples) == TINY.num_train_videos
  assert len(list(synthetic.generate_split(TINY, "test"))) == TINY.num_test_videos
  for ex in examples:
    assert set(ex) == {"video_id", "rgb", "flow", "num_segments", "seconds_per_segment",
                       "duration", "labels", "segments", "segment_labels", "ambiguous"}
    t = ex["num_segments"]
    assert TINY.min_segments <= t <= TINY.max_segments
    assert ex["rgb"].shape == ex["flow"].shape == (t, TINY.feature_dim)
    assert ex["rgb"].dtype == ex["flow"].dtype == np.float32
    assert np.all(np.isfinite(ex["rgb"])) and np.all(np.isfinite(ex["flow"]))
    assert ex["seconds_per_segment"] == pytest.approx(0.64)
    assert ex["duration"] == pytest.approx(t * 0.64)
    assert ex["labels"].dtype == np.float32 and ex["labels"].shape == (TINY.num_classes,)
    k = len(ex["segment_labels"])
    assert k >= 1 and ex["segments"].shape == (k, 2) and ex["segments"].dtype == np.float32
    assert ex["segment_labels"].dtype == np.int64
    assert ex["ambiguous"].shape == (0, 2) and ex["ambiguous"].dtype == np.float32
    multi_hot = np.zeros(TINY.num_classes, np.float32)
    multi_hot[ex["segment_labels"]] = 1
    np.testing.assert_array_equal(ex["labels"], multi_hot)
    assert np.all(ex["segments"][:, 0] < ex["segments"][:, 1])
    assert np.all(ex["segments"] >= 0) and np.all(ex["segments"] <= ex["duration"] + 1e-4)
  # Random layouts: instances of one video do not overlap.
  for ex in examples:
    s = ex["segments"][np.argsort(ex["segments"][:, 0])]
    assert np.all(s[1:, 0] >= s[:-1, 1] - 1e-4)


def test_deterministic_and_order_independent():
  first = list(synthetic.generate_split(TINY, "test"))
  again = list(synthetic.generate_split(TINY, "test"))
  for a, b in zip(first, again):
    assert a["video_id"] == b["video_id"]
    assert a["rgb"].tobytes() == b["rgb"].tobytes()
    assert a["flow"].tobytes() == b["flow"].tobytes()
    assert a["segments"].tobytes() == b["segments"].tobytes()
  # A video alone (not after the others) is the same bytes.
  last_layout = synthetic.video_layouts(TINY, "test")[-1]
  alone, _ = synthetic.generate_video(TINY, last_layout)
  assert alone["flow"].tobytes() == first[-1]["flow"].tobytes()
  # Another seed changes the features and the random layouts.
  other = list(synthetic.generate_split(dataclasses.replace(TINY, seed=1), "test"))
  assert [e["video_id"] for e in other] == [e["video_id"] for e in first]
  assert all(a["rgb"].shape != b["rgb"].shape or not np.array_equal(a["rgb"], b["rgb"])
             for a, b in zip(first, other))
  assert any(a["segments"].shape != b["segments"].shape or
             not np.array_equal(a["segments"], b["segments"]) for a, b in zip(first, other))


def test_cores_are_short_and_some_instances_weak(tiny_train):
  start = np.concatenate([s.instance_start for _, s in tiny_train])
  end = np.concatenate([s.instance_end for _, s in tiny_train])
  core_start = np.concatenate([s.core_start for _, s in tiny_train])
  core_end = np.concatenate([s.core_end for _, s in tiny_train])
  length, core = end - start, core_end - core_start
  assert np.all(core_start >= start) and np.all(core_end <= end)
  weak = core == 0
  assert 0.03 < weak.mean() < 0.35  # weak_instance_prob = 0.15 over ~140 instances
  long_enough = (length >= 4) & ~weak
  assert np.all(core[long_enough] < length[long_enough])
  frac = core[long_enough] / length[long_enough]
  assert 0.1 < frac.mean() < 0.35


def _projections(tiny_train, stream):
  """Projection on the true class prototype of core, non-core and background snippets."""
  protos = synthetic.class_prototypes(TINY, stream)
  core, rest, background = [], [], []
  for ex, s in tiny_train:
    proj = s.latent[stream] @ protos.T  # [T, C], in noise units before the observation
    t = np.arange(ex["num_segments"])
    inside = (t >= s.instance_start[:, None]) & (t < s.instance_end[:, None])  # [K, T]
    in_core = (t >= s.core_start[:, None]) & (t < s.core_end[:, None])
    own = proj[:, ex["segment_labels"]].T  # [K, T]: each instance's class
    core.append(own[in_core])
    rest.append(own[inside & ~in_core])
    background.append(proj[~inside.any(0)].ravel())
  return tuple(np.concatenate(v) for v in (core, rest, background))


@pytest.mark.parametrize("stream", ["rgb", "flow"])
def test_weak_frames_carry_real_but_weaker_signal(tiny_train, stream):
  core, rest, background = _projections(tiny_train, stream)
  strength = getattr(TINY, f"{stream}_class_strength")
  assert core.mean() == pytest.approx(strength, abs=0.15)
  # Non-core frames: weak_ratio in [0.3, 0.5] of the core level, far above background.
  assert 0.3 * strength - 0.1 < rest.mean() < 0.5 * strength + 0.1
  assert background.mean() == pytest.approx(0.0, abs=0.05)
  assert background.std() == pytest.approx(1.0, abs=0.08)  # unit noise, scenes orthogonal


def test_flow_localises_better_than_rgb_and_fusion_best(tiny_train):
  """Per-snippet separability of action from background along the true class:
  rgb < flow < the paper's fusion 0.3 rgb + 0.7 flow (eq. 6, lambda = 0.3)."""
  def separation(weights):
    parts = {s: _projections(tiny_train, s) for s in ("rgb", "flow")}
    core, rest, background = (sum(weights[s] * parts[s][i] for s in parts) for i in range(3))
    action = np.concatenate([core, rest])
    return (action.mean() - background.mean()) / background.std()
  rgb = separation({"rgb": 1.0, "flow": 0.0})
  flow = separation({"rgb": 0.0, "flow": 1.0})
  fused = separation({"rgb": 0.3, "flow": 0.7})
  assert 1.4 * rgb < flow < fused
  assert TINY.rgb_scene_strength > TINY.flow_scene_strength


def test_shot_changes_at_boundaries_and_detectable(tiny_train):
  at_boundary, total, ratios = 0, 0, {"rgb": [], "flow": []}
  for ex, s in tiny_train:
    t = ex["num_segments"]
    boundaries = np.unique(np.concatenate([s.instance_start, s.instance_end]))
    boundaries = boundaries[(boundaries > 0) & (boundaries < t)]
    at_boundary += np.isin(boundaries, s.shot_starts).sum()
    total += len(boundaries)
    assert np.all(np.diff(s.shot_starts) > 0)
    for stream in ratios:
      jump = np.linalg.norm(np.diff(ex[stream], axis=0), axis=1)  # jump[i]: i -> i + 1
      ratios[stream].append(jump[s.shot_starts - 1] / np.median(jump))
  # boundary_shot_prob = 0.7 per boundary (start or end), plus random shots.
  assert 0.55 < at_boundary / total < 0.9
  rgb, flow = (np.concatenate(ratios[s]) for s in ("rgb", "flow"))
  # A shot change is a change of appearance: in rgb the jump is about twice the usual one
  # (a 1.5-median detector finds nearly all), in flow it stands out less.
  assert np.mean(rgb > 1.5) > 0.9
  assert 1.8 < np.median(rgb) < 2.5
  assert 1.2 < np.median(flow) < np.median(rgb)


REAL = os.path.join(os.path.dirname(synthetic.__file__), "data", "real_i3d")


def test_realism_statistics_known_values():
  # Two orthogonal unit snippets then a copy: neighbours' cosines 0 and 1; pairs 0, 0, 1.
  x = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
  stats = synthetic.realism_statistics(x)
  assert stats["consecutive_cosine"] == pytest.approx(0.5)
  assert stats["any_cosine"] == pytest.approx(1 / 3)
  assert stats["zero_fraction"] == pytest.approx(0.5)
  # Channel 0: 1, 0, 0 -> centred 2/3, -1/3, -1/3: lag-1 sum -2/9 + 1/9 over power 6/9.
  # Channel 1: the mirror image, the same value.
  assert stats["lag1_autocorrelation"] == pytest.approx(-1 / 6)
  with pytest.raises(ValueError, match="at least 3 snippets"):
    synthetic.realism_statistics(x, stride=2)


@pytest.mark.parametrize("name", ["synthetic_thumos", "synthetic_anet"])
def test_features_are_i3d_like(name):
  """The regimes' features against the real I3D sample (assg_tf/data/real_i3d: consecutive
  cosine 0.80 rgb / 0.69 flow, two-snippet cosine 0.63 / 0.56, lag-1 autocorrelation
  0.23 / 0.10, at its 2.56 s stride): non-negative, temporally smooth, within stated bounds."""
  spec = dataclasses.replace(synthetic.SPECS[name], feature_dim=64)
  videos = [synthetic.generate_video(spec, layout)[0]
            for layout in synthetic.video_layouts(spec, "train")[:12]]
  for stream, bounds in (("rgb", dict(cos=(0.72, 0.88), any=(0.55, 0.75), lag=(0.15, 0.5))),
                         ("flow", dict(cos=(0.62, 0.82), any=(0.5, 0.72), lag=(0.05, 0.4)))):
    stats = [synthetic.realism_statistics(v[stream], stride=4) for v in videos
             if v["num_segments"] >= 12]
    mean = {k: np.mean([s[k] for s in stats]) for k in stats[0]}
    assert all((v[stream] >= 0).all() for v in videos)
    assert bounds["cos"][0] < mean["consecutive_cosine"] < bounds["cos"][1], (stream, mean)
    assert bounds["any"][0] < mean["any_cosine"] < bounds["any"][1], (stream, mean)
    assert mean["consecutive_cosine"] > mean["any_cosine"] + 0.05  # smooth in time
    assert bounds["lag"][0] < mean["lag1_autocorrelation"] < bounds["lag"][1], (stream, mean)
    # At the native 0.64 s stride, far smoother than at 2.56 s (independent noise: ~0).
    native = np.mean([synthetic.realism_statistics(v[stream])["lag1_autocorrelation"]
                      for v in videos])
    assert native > mean["lag1_autocorrelation"] + 0.2


def test_real_sample_statistics():
  """The figures the generator is judged against, from the shipped real sample."""
  for stream, cos, any_cos in (("rgb", 0.798, 0.631), ("flow", 0.690, 0.555)):
    x = np.load(os.path.join(REAL, f"women_long_jump_{stream}.npy"))
    stats = synthetic.realism_statistics(x)
    assert stats["consecutive_cosine"] == pytest.approx(cos, abs=1e-3)
    assert stats["any_cosine"] == pytest.approx(any_cos, abs=1e-3)


def test_thumos_layout_is_the_real_annotations():
  spec = synthetic.SPECS["synthetic_thumos"]
  names = synthetic.class_names(spec)
  assert len(names) == 20 and names[0] == "BaseballPitch" and names[5] == "CricketBowling"
  assert names[-1] == "VolleyballSpiking"
  train = synthetic.video_layouts(spec, "train")
  test = synthetic.video_layouts(spec, "test")
  assert len(train) == 200 and all(v.video_id.startswith("video_validation_") for v in train)
  assert len(test) == 212 and all(v.video_id.startswith("video_test_") for v in test)
  video = {v.video_id: v for v in test}["video_test_0000004"]
  assert video.duration == pytest.approx(33.83)
  np.testing.assert_allclose(video.segments[0], [0.2, 1.1], atol=1e-6)
  # Sorted by start: Bowling 0.2, Shot 1.0, Bowling 11.4, 18.6, Shot 20.8, Bowling 28.3, Shot 30.3.
  assert [names[c][7:] for c in video.segment_labels] == [
      "Bowling", "Shot", "Bowling", "Bowling", "Shot", "Bowling", "Shot"]
  num_ambiguous = sum(len(v.ambiguous) for v in train)
  assert 60 < num_ambiguous <= 89  # Ambiguous_val.txt has 89 rows
  # A generated THUMOS video: T from the duration, segments kept.
  example, structure = synthetic.generate_video(spec, video)
  assert example["num_segments"] == int(np.ceil(33.83 / 0.64)) == 53
  assert example["rgb"].shape == (53, 256)
  # The first snippet whose centre is >= s: 0.2 s -> 0 (centre 0.32), 1.0 s -> 2 (centre 1.6,
  # snippet 1's is 0.96), 11.4 s -> 18 (centre 11.84).
  np.testing.assert_array_equal(structure.instance_start[:3], [0, 2, 18])


def test_anet_layout_regime():
  spec = synthetic.SPECS["synthetic_anet"]
  names = synthetic.class_names(spec)
  assert len(names) == spec.num_classes == 20
  for split, count in (("train", 400), ("test", 200)):
    layouts = synthetic.video_layouts(spec, split)
    assert len(layouts) == count
    instances = np.array([len(v.segment_labels) for v in layouts])
    assert 1.2 < instances.mean() < 2.2 and np.median(instances) <= 2
    coverage = []
    for v in layouts:
      grid = np.arange(0.0, v.duration, 0.1)
      covered = ((grid >= v.segments[:, :1]) & (grid < v.segments[:, 1:])).any(0)
      coverage.append(covered.mean())
    assert 0.55 < np.mean(coverage) < 0.8  # ActivityNet: few long actions
  train_ids = {v.video_id for v in synthetic.video_layouts(spec, "train")}
  assert not train_ids & {v.video_id for v in synthetic.video_layouts(spec, "test")}


def test_bad_input_errors():
  with pytest.raises(ValueError, match="unknown synthetic dataset 'nope'"):
    synthetic.class_names("nope")
  with pytest.raises(ValueError, match="split='validation'"):
    next(synthetic.generate_split(TINY, "validation"))
  with pytest.raises(ValueError, match="layout='imagenet'"):
    dataclasses.replace(TINY, layout="imagenet")
  with pytest.raises(ValueError, match="20 classes"):
    dataclasses.replace(synthetic.SPECS["synthetic_thumos"], num_classes=10)
  with pytest.raises(ValueError, match="feature_dim"):
    dataclasses.replace(TINY, num_classes=17)


@pytest.mark.parametrize("joint", [False, True])
def test_write_per_video_layout_round_trip(tmp_path, joint):
  out = str(tmp_path)
  synthetic.write_per_video_layout(TINY, out, joint=joint)
  with open(os.path.join(out, "gt.json")) as f:
    database = json.load(f)["database"]
  names = set(synthetic.class_names(TINY))
  for split in synthetic.SPLITS:
    with open(os.path.join(out, f"split_{split}.txt")) as f:
      ids = f.read().split()
    examples = list(synthetic.generate_split(TINY, split))
    assert ids == [e["video_id"] for e in examples]
    for ex in examples[:5]:
      folder = os.path.join(out, "features", split)
      if joint:
        joint_features = np.load(os.path.join(folder, ex["video_id"] + ".npy"))
        assert joint_features.shape == (ex["num_segments"], 2 * TINY.feature_dim)
        np.testing.assert_array_equal(joint_features[:, :TINY.feature_dim], ex["rgb"])
        np.testing.assert_array_equal(joint_features[:, TINY.feature_dim:], ex["flow"])
      else:
        for stream in ("rgb", "flow"):
          np.testing.assert_array_equal(
              np.load(os.path.join(folder, stream, ex["video_id"] + ".npy")), ex[stream])
      entry = database[ex["video_id"]]
      assert entry["subset"] == split
      assert entry["duration"] == pytest.approx(ex["duration"])
      assert len(entry["annotations"]) == len(ex["segment_labels"])
      assert {a["label"] for a in entry["annotations"]} <= names
      np.testing.assert_allclose([a["segment"] for a in entry["annotations"]],
                                 ex["segments"], atol=1e-5)
  assert len(database) == TINY.num_train_videos + TINY.num_test_videos
  leftovers = [f for _, _, files in os.walk(out) for f in files if f.startswith(".tmp_")]
  assert not leftovers


@pytest.mark.parametrize("joint", [False, True])
def test_written_layout_reads_back_through_the_feature_readers(tmp_path, joint):
  """assg_tf.features (the real-data readers) returns exactly the generated examples."""
  from assg_tf import features  # pylint: disable=g-import-not-at-top
  spec = dataclasses.replace(synthetic.SPECS["synthetic_thumos"], name="small_thumos",
                             feature_dim=48, num_train_videos=20, num_test_videos=29)
  synthetic.write_per_video_layout(spec, str(tmp_path), joint=joint)
  for split in synthetic.SPLITS:
    read = list(features.read_videos(str(tmp_path), "thumos14", split,
                                     synthetic.class_names(spec), expected_dim=48))
    generated = list(synthetic.generate_split(spec, split))
    assert [r["video_id"] for r in read] == [g["video_id"] for g in generated]
    for r, g in zip(read, generated):
      for key in ("rgb", "flow", "labels", "segment_labels"):
        np.testing.assert_array_equal(r[key], g[key], err_msg=key)
      for key in ("segments", "ambiguous", "duration", "seconds_per_segment"):
        np.testing.assert_allclose(r[key], g[key], atol=1e-5, err_msg=key)
      assert int(r["num_segments"]) == g["num_segments"]
    # The last video of each split has Ambiguous segments (video_validation_0000160,
    # video_test_0000278), so they are compared too.
    assert len(generated[-1]["ambiguous"]) and len(read[-1]["ambiguous"])
