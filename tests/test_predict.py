"""`python -m assg_tf.predict` and its library (`features.read_features`, `inference`'s new
videos): reading new videos, both model sources, the CLI, and the .keras files."""
import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from assg_tf import config as config_lib
from assg_tf import evaluation
from assg_tf import features
from assg_tf import inference
from assg_tf import model as model_lib
from assg_tf import proposals
from assg_tf import run_dir as run_dir_lib
from assg_tf import serving

RGB_DIM, FLOW_DIM = 4, 3
CLASS_NAMES = ("a", "b", "c")
DELTA = 0.5
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cfg():
  return config_lib.Config(model=config_lib.ModelConfig(hidden_dim=8),
                           predict=config_lib.PredictConfig(video_scores="own"),
                           cas=config_lib.CASConfig(hidden_dim=8, attention_dim=4),
                           variants=("cas", "assg"))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  """A model_dir as assg_tf.train leaves it (run.json, models/*.keras), untrained random nets,
  plus an export of its assg variant."""
  root = tmp_path_factory.mktemp("run")
  cfg = dataclasses.replace(_cfg(), model_dir=str(root))
  rng = np.random.default_rng(0)
  nets = {}
  for variant in cfg.variants:
    for stream, dim in (("rgb", RGB_DIM), ("flow", FLOW_DIM)):
      net = model_lib.build_net(variant, len(CLASS_NAMES), dim, cfg, name=f"{variant}_{stream}")
      for v in net.trainable_variables:
        v.assign(rng.normal(0.0, 0.7, v.shape).astype(np.float32))
      run_dir_lib.save_keras(net, str(root / "models" / f"{variant}_{stream}.keras"))
      nets.setdefault(variant, {})[stream] = net
  with open(root / "run.json", "w") as f:
    json.dump({"dataset": "synthetic", "class_names": list(CLASS_NAMES), "rgb_dim": RGB_DIM,
               "flow_dim": FLOW_DIM, "seconds_per_segment": DELTA,
               "variants": list(cfg.variants), "streams": ["rgb", "flow"],
               "config": dataclasses.asdict(cfg)}, f)
  info = config_lib.DatasetInfo(CLASS_NAMES, RGB_DIM, FLOW_DIM, seconds_per_segment=DELTA)
  export_path = serving.export_saved_model(nets["assg"], info, cfg, str(root / "export"))
  return {"root": str(root), "nets": nets, "cfg": cfg, "export": export_path}


def _videos(folder, lengths=(30, 7, 52), joint=True, seed=1):
  """Writes videos; returns {video_id: joint [T, D]}."""
  rng = np.random.default_rng(seed)
  videos = {}
  for i, length in enumerate(lengths):
    x = rng.normal(size=[length, RGB_DIM + FLOW_DIM]).astype(np.float32)
    video = f"video_{i}"
    videos[video] = x
    if joint:
      os.makedirs(folder, exist_ok=True)
      np.save(os.path.join(folder, f"{video}.npy"), x)
    else:
      for stream, part in (("rgb", x[:, :RGB_DIM]), ("flow", x[:, RGB_DIM:])):
        os.makedirs(os.path.join(folder, stream), exist_ok=True)
        np.save(os.path.join(folder, stream, f"{video}.npy"), part)
  return videos


def _one_by_one(nets, cfg, videos):
  """Reference: Predictor.forward on each video alone, no padding."""
  predictor = inference.Predictor(nets, config_lib.DatasetInfo(CLASS_NAMES, RGB_DIM, FLOW_DIM),
                                  cfg.predict)
  results = {}
  for video, x in videos.items():
    out = predictor.forward(x[None], np.array([len(x)], np.int32),
                            np.array([DELTA], np.float32))
    results.update(proposals.to_results({k: out[k].numpy() for k in proposals.OUTPUT_KEYS},
                                        [video], CLASS_NAMES))
  return results


def _assert_same_results(got, want):
  assert sorted(got) == sorted(want)
  for video in want:
    assert len(got[video]) == len(want[video]), video
    for a, b in zip(got[video], want[video]):
      assert a["label"] == b["label"]
      np.testing.assert_allclose(a["segment"], b["segment"], rtol=1e-5, atol=1e-5)
      np.testing.assert_allclose(a["score"], b["score"], rtol=1e-5, atol=1e-6)


def test_batched_prediction_equals_each_video_alone(run_dir, tmp_path):
  videos = _videos(str(tmp_path / "joint"))
  model = inference.model_from_run(run_dir["root"], "assg")
  assert (model.rgb_dim, model.flow_dim, model.class_names) == (RGB_DIM, FLOW_DIM, CLASS_NAMES)
  read = features.read_features(str(tmp_path / "joint"), RGB_DIM, FLOW_DIM)
  assert [v for v, _ in read] == sorted(videos)
  got = inference.predict_videos(read, model.forward, model.class_names, batch_size=2)
  want = _one_by_one(run_dir["nets"]["assg"], run_dir["cfg"], videos)
  assert sum(len(d) for d in want.values()) > 0
  _assert_same_results(got, want)


def test_saved_model_and_split_streams_give_the_same_detections(run_dir, tmp_path):
  videos = _videos(str(tmp_path / "split"), joint=False)
  model = inference.model_from_saved_model(os.path.dirname(run_dir["export"]))  # base folder
  assert (model.rgb_dim, model.flow_dim, model.class_names) == (RGB_DIM, FLOW_DIM, CLASS_NAMES)
  assert model.seconds_per_segment == pytest.approx(DELTA)
  read = features.read_features(str(tmp_path / "split" / "rgb"), RGB_DIM, FLOW_DIM,
                               str(tmp_path / "split" / "flow"))
  for (video, x), (want_video, want_x) in zip(read, sorted(videos.items())):
    assert video == want_video
    np.testing.assert_array_equal(x, want_x)
  got = inference.predict_videos(read, model.forward, model.class_names, batch_size=8)
  _assert_same_results(got, _one_by_one(run_dir["nets"]["assg"], run_dir["cfg"], videos))


def test_run_writes_the_activitynet_results_format(run_dir, tmp_path):
  videos = _videos(str(tmp_path / "in"), lengths=(20, 41))
  inference.predict_files(str(tmp_path / "in"), str(tmp_path / "folder.json"), model_dir=run_dir["root"],
              variant="cas")
  with open(tmp_path / "folder.json") as f:
    written = json.load(f)
  assert set(written) == {"version", "results", "external_data"}
  _assert_same_results(written["results"],
                       _one_by_one(run_dir["nets"]["cas"], run_dir["cfg"], videos))
  rgb_file, flow_file = tmp_path / "v_rgb.npy", tmp_path / "v_flow.npy"
  np.save(rgb_file, videos["video_0"][:, :RGB_DIM])
  np.save(flow_file, videos["video_0"][:, RGB_DIM:])
  inference.predict_files(str(rgb_file), str(tmp_path / "files.json"), export_dir=run_dir["export"],
              flow_features=str(flow_file))
  predictions = evaluation.load_predictions(str(tmp_path / "files.json"))  # evaluator reads it
  with open(tmp_path / "files.json") as f:
    files_results = json.load(f)["results"]
  assert list(files_results) == ["v_rgb"]
  _assert_same_results({"video_0": files_results["v_rgb"]},
                       _one_by_one(run_dir["nets"]["assg"], run_dir["cfg"],
                                   {"video_0": videos["video_0"]}))
  assert len(predictions.scores) == len(files_results["v_rgb"])
  bad = videos["video_1"].copy()
  bad[3, 2] = np.nan
  np.save(tmp_path / "in" / "bad.npy", bad)
  with pytest.raises(features.FeatureError, match="bad.npy: 1 NaN/inf values"):
    inference.predict_files(str(tmp_path / "in"), str(tmp_path / "nan.json"), model_dir=run_dir["root"])
  assert not (tmp_path / "nan.json").exists()
  with pytest.raises(ValueError, match="exactly one of"):
    inference.predict_files(str(tmp_path / "in"), str(tmp_path / "x.json"))


def test_command_line(run_dir, tmp_path):
  videos = _videos(str(tmp_path / "in"), lengths=(15, 9), joint=False)
  np.save(tmp_path / "wide.npy", np.zeros([5, RGB_DIM + FLOW_DIM + 2], np.float32))
  commands = {
      "good": ["--model_dir", run_dir["root"], "--features", str(tmp_path / "in" / "rgb"),
               "--flow_features", str(tmp_path / "in" / "flow"),
               "--output", str(tmp_path / "out.json")],
      "bad": ["--export_dir", run_dir["export"], "--features", str(tmp_path / "wide.npy"),
              "--output", str(tmp_path / "bad.json")],
  }
  procs = {name: subprocess.Popen([sys.executable, "-m", "assg_tf.predict", *args],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  cwd=str(tmp_path)) for name, args in commands.items()}
  (out, err), (_, bad_err) = (procs[name].communicate() for name in ("good", "bad"))
  assert procs["good"].returncode == 0, err[-2000:]
  with open(tmp_path / "out.json") as f:
    results = json.load(f)["results"]
  want = _one_by_one(run_dir["nets"]["assg"], run_dir["cfg"], videos)
  _assert_same_results(results, want)
  count = sum(len(d) for d in want.values())
  assert f"{count} detections in 2 video(s) written to" in out
  # Bad input: the message naming the file, exit status 1, no traceback, no output file.
  assert procs["bad"].returncode == 1
  assert f"error: {tmp_path / 'wide.npy'}: features of shape (5, 9), expected width 7" in bad_err
  assert "Traceback" not in bad_err
  assert not (tmp_path / "bad.json").exists()


def test_bad_features_name_the_file(tmp_path):
  good = np.zeros([5, RGB_DIM + FLOW_DIM], np.float32)
  cases = {
      "width.npy": (np.zeros([5, RGB_DIM + FLOW_DIM + 1], np.float32), "expected width 7"),
      "rank.npy": (np.zeros([5, 2, 7], np.float32), "expected a 2-D array"),
      "empty.npy": (np.zeros([0, RGB_DIM + FLOW_DIM], np.float32), "T = 0"),
      "inf.npy": (np.where(np.eye(5, 7) > 0, np.inf, good).astype(np.float32), "NaN/inf"),
  }
  for name, (array, message) in cases.items():
    np.save(tmp_path / name, array)
    with pytest.raises(features.FeatureError, match=f"{name}.*{message}|{message}.*{name}"):
      features.read_features(str(tmp_path / name), RGB_DIM, FLOW_DIM)
  (tmp_path / "text.npy").write_text("not numpy")
  with pytest.raises(features.FeatureError, match="text.npy: not a .npy file"):
    features.read_features(str(tmp_path / "text.npy"), RGB_DIM, FLOW_DIM)
  with pytest.raises(features.FeatureError, match="missing features"):
    features.read_features(str(tmp_path / "nothing.npy"), RGB_DIM, FLOW_DIM)
  (tmp_path / "empty_dir").mkdir()
  with pytest.raises(features.FeatureError, match="no .npy feature files"):
    features.read_features(str(tmp_path / "empty_dir"), RGB_DIM, FLOW_DIM)


def test_rgb_flow_pairing_and_lengths(tmp_path):
  for stream in ("rgb", "flow"):
    (tmp_path / stream).mkdir()
  np.save(tmp_path / "rgb" / "v1.npy", np.ones([10, RGB_DIM], np.float32))
  np.save(tmp_path / "flow" / "v1.npy", np.ones([9, FLOW_DIM], np.float32))  # one row short
  videos = features.read_features(str(tmp_path / "rgb"), RGB_DIM, FLOW_DIM, str(tmp_path / "flow"))
  assert [(v, x.shape) for v, x in videos] == [("v1", (9, RGB_DIM + FLOW_DIM))]  # trimmed
  np.save(tmp_path / "rgb" / "v2.npy", np.ones([10, RGB_DIM], np.float32))
  with pytest.raises(features.FeatureError, match=r"rgb/v2.npy has no counterpart v2.npy in .*flow"):
    features.read_features(str(tmp_path / "rgb"), RGB_DIM, FLOW_DIM, str(tmp_path / "flow"))
  np.save(tmp_path / "flow" / "v2.npy", np.ones([4, FLOW_DIM], np.float32))
  with pytest.raises(features.FeatureError,
                     match=r"length mismatch: .*rgb/v2.npy has 10 rows, .*flow/v2.npy has 4"):
    features.read_features(str(tmp_path / "rgb"), RGB_DIM, FLOW_DIM, str(tmp_path / "flow"))
  np.save(tmp_path / "flow" / "v2.npy", np.ones([10, RGB_DIM], np.float32))  # rgb width
  with pytest.raises(features.FeatureError, match=r"flow/v2.npy.*expected width 3"):
    features.read_features(str(tmp_path / "rgb"), RGB_DIM, FLOW_DIM, str(tmp_path / "flow"))
  with pytest.raises(features.FeatureError, match="must be a folder"):
    features.read_features(str(tmp_path / "rgb"), RGB_DIM, FLOW_DIM,
                          str(tmp_path / "flow" / "v1.npy"))


def test_missing_model_files_are_named(tmp_path):
  with pytest.raises(FileNotFoundError, match="run.json"):
    inference.model_from_run(str(tmp_path))
  with pytest.raises(FileNotFoundError, match="numbered SavedModel versions"):
    inference.model_from_saved_model(str(tmp_path))


def test_keras_files_reload_with_the_same_heatmaps(run_dir):
  """The .keras files of a run give the in-memory networks' heatmaps and video scores."""
  x = np.random.default_rng(3).normal(size=[2, 11, RGB_DIM + FLOW_DIM]).astype(np.float32)
  mask = np.ones([2, 11], np.float32)
  mask[1, 6:] = 0.0
  for variant, nets in run_dir["nets"].items():
    loaded = run_dir_lib.load_nets(run_dir["root"], variant)
    for stream, net in nets.items():
      assert type(loaded[stream]) is type(net)
      channels = config_lib.stream_slice(stream, RGB_DIM)
      for a, b in zip(model_lib.stream_maps(net, x[..., channels], mask),
                      model_lib.stream_maps(loaded[stream], x[..., channels], mask)):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6, atol=1e-7)


def test_keras_files_load_after_importing_assg_tf_only(run_dir, tmp_path):
  """docs/DESIGN.md "Serving" reuse: `import assg_tf` is all a user needs before
  keras.saving.load_model."""
  x = np.random.default_rng(4).normal(size=[1, 9, RGB_DIM]).astype(np.float32)
  np.save(tmp_path / "x.npy", x)
  script = textwrap.dedent(f"""
      import numpy as np, keras
      import assg_tf
      x = np.load({str(tmp_path / 'x.npy')!r})
      net = keras.saving.load_model({os.path.join(run_dir['root'], 'models', 'assg_rgb.keras')!r})
      np.save({str(tmp_path / 'h.npy')!r}, np.asarray(net(x)["heatmaps"]))
  """)
  proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                        cwd=str(tmp_path), check=False)
  assert proc.returncode == 0, proc.stderr[-1500:]
  want = run_dir["nets"]["assg"]["rgb"](x)["heatmaps"].numpy()
  np.testing.assert_allclose(np.load(tmp_path / "h.npy"), want, rtol=1e-6, atol=1e-7)


def test_keras_layers_drop_into_another_model(run_dir):
  """A loaded stream network is a layer of a new functional Keras model."""
  net = run_dir_lib.load_nets(run_dir["root"], "assg", ["flow"])["flow"]
  inputs = keras.Input([None, FLOW_DIM])
  heat = net(inputs)["heatmaps"]
  outputs = keras.layers.Dense(2)(keras.ops.mean(heat, axis=1))
  combined = keras.Model(inputs, outputs)
  x = np.random.default_rng(5).normal(size=[3, 6, FLOW_DIM]).astype(np.float32)
  assert combined(x).shape == (3, 2)
  assert len(combined.trainable_variables) == len(net.trainable_variables) + 2


def test_help_lists_the_command_flags():
  result = subprocess.run([sys.executable, "-m", "assg_tf.predict", "--help"],
                          capture_output=True, text=True, timeout=120, check=False)
  for flag in ('--model_dir', '--export_dir', '--features', '--flow_features', '--output'):
    assert f"  {flag}:" in result.stdout, flag
