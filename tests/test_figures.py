"""assg_tf.figures (and `python -m assg_tf.visualize`): the Figure-3 maps of a video, and the
training curves of a run."""
import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from assg_tf import cas as cas_lib
from assg_tf import config as config_lib
from assg_tf import growing
from assg_tf import inference
from assg_tf import input_pipeline
from assg_tf import model as model_lib
from assg_tf import seeds as seeds_lib
from assg_tf import synthetic
from assg_tf import figures
from assg_tf import run_dir as run_dir_lib

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
THETA = 0.2  # theta_g of the test run (the paper's 0.99 rarely grows random networks)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  """A run on the tfds `synthetic` dataset: random nets, one seeds file entry, known logs."""
  root = tmp_path_factory.mktemp("vis")
  data_dir = str(root / "tfds")
  cfg = config_lib.Config(
      data=config_lib.DataConfig(dataset="synthetic", data_dir=data_dir),
      model=config_lib.ModelConfig(hidden_dim=16, growing_threshold_fg=THETA,
                                   growing_threshold_bg=THETA),
      cas=config_lib.CASConfig(hidden_dim=16, attention_dim=8),
      variants=("cas", "assg"), model_dir=str(root / "run"))
  train, info = input_pipeline.load_split(cfg.data, "train")
  test, _ = input_pipeline.load_split(cfg.data, "test")
  rng = np.random.default_rng(0)
  nets = {}
  for variant in cfg.variants:
    for stream in cfg.streams:
      net = model_lib.build_net(variant, len(info.class_names), info.rgb_dim, cfg,
                                name=f"{variant}_{stream}")
      for v in net.trainable_variables:
        v.assign(rng.normal(0.0, 0.4, v.shape).astype(np.float32))
      run_dir_lib.save_keras(net, run_dir_lib.model_path(cfg.model_dir, variant, stream))
      nets.setdefault(variant, {})[stream] = net
  train_example = next(train.as_numpy_iterator())
  test_example = next(test.as_numpy_iterator())
  train_id = train_example["video_id"].decode()
  label = int(np.flatnonzero(train_example["labels"])[0])
  # A foreground seed of the rgb stream where eq. 1 lets it grow: segment t + 1 qualifies
  # (class c above theta_g and the argmax over the background and the video's labels).
  # H is what growing thresholds (the net's training_heatmaps: with the default label
  # softmax, renormalised over the background and the video's labels).
  rgb_net = nets["assg"]["rgb"]
  rgb_heat = rgb_net.training_heatmaps(rgb_net(train_example["rgb"][None]),
                                       train_example["labels"][None]).numpy()[0]
  allowed = np.concatenate([[True], train_example["labels"] > 0.5])
  restricted = np.where(allowed, rgb_heat, -1.0)
  qualifies = (restricted.argmax(-1) == label + 1) & (rgb_heat[:, label + 1] >= THETA)
  t = int(np.flatnonzero(qualifies[1:])[0])  # seed at t, t + 1 qualifies
  stored = {"rgb": np.array([[0, 0], [1, 0], [t, label + 1]], np.int32),
            "flow": np.array([[2, 0], [9, label + 1]], np.int32)}
  for stream, coords in stored.items():
    seeds_lib.save_seeds(run_dir_lib.seeds_path(cfg.model_dir, stream), {train_id: coords},
                         info.channels)
  # Logs: two stages; cas_rgb logs step 20 twice (a resumed stage), the later value wins.
  logged = {"cas_rgb": [(10, "loss", 3.0), (20, "loss", 2.5), (20, "loss", 2.0),
                        (20, "validation_mAP", 0.25)],
            "assg_rgb": [(10, "seed_loss", 1.5), (10, "class_loss", 4.0), (30, "seed_loss", 1.0)]}
  for stage, values in logged.items():
    for start in (0, 1):  # two event files per stage, as a resumed stage leaves
      writer = tf.summary.create_file_writer(os.path.join(cfg.model_dir, "logs", stage))
      with writer.as_default():
        for step, tag, value in values[start * 2:(start + 1) * 2]:
          tf.summary.scalar(tag, value, step=step)
      writer.close()
  run = {"dataset": "synthetic", "class_names": list(info.class_names),
         "rgb_dim": info.rgb_dim, "flow_dim": info.flow_dim, "seconds_per_segment": 0.64,
         "variants": list(cfg.variants), "streams": list(cfg.streams),
         "config": dataclasses.asdict(cfg)}
  with open(os.path.join(cfg.model_dir, "run.json"), "w") as f:
    json.dump(run, f)
  run = run_dir_lib.read_run(cfg.model_dir)
  return {"dir": cfg.model_dir, "cfg": cfg, "info": info, "nets": nets, "run": run,
          "train_example": train_example, "test_example": test_example, "stored": stored,
          "label": label}


def test_runs_and_top_class():
  assert figures.runs(np.array([1, 1, 0, 1, 0, 0, 1], bool)) == [(0, 2), (3, 1), (6, 1)]
  assert figures.runs(np.zeros(4, bool)) == []
  example = {"segments": np.array([[0, 1], [2, 5], [6, 7], [8, 8.5]], np.float32),
             "segment_labels": np.array([2, 0, 2, 2])}
  assert figures.top_class(example, 3) == 0  # 3 s of class 0 beat 2.5 s of class 2
  tie = {"segments": np.array([[0, 1], [2, 3]], np.float32), "segment_labels": np.array([4, 1])}
  assert figures.top_class(tie, 5) == 1
  none = {"segments": np.zeros([0, 2], np.float32), "segment_labels": np.zeros([0], np.int64)}
  assert figures.top_class(none, 5) is None


def test_training_video_maps_use_the_stored_seeds(run_dir):
  example = run_dir["train_example"]
  maps = figures.video_maps(example, run_dir["run"], run_dir["dir"], "assg",
                              class_index=run_dir["label"])
  length = example["rgb"].shape[0]
  for stream, coords in run_dir["stored"].items():
    seeds = maps["seeds"][stream]
    assert seeds["source"] == "file"
    np.testing.assert_array_equal(np.flatnonzero(seeds["bg"]), coords[coords[:, 1] == 0, 0])
    np.testing.assert_array_equal(np.flatnonzero(seeds["fg"]), coords[coords[:, 1] > 0, 0])
    # Growing never removes a seed of a labelled class, and it is eq. 1 on the stream heatmap.
    assert np.all(maps["grown"][stream]["fg"][seeds["fg"]])
    dense = np.zeros([1, length, len(run_dir["info"].class_names) + 1], np.float32)
    dense[0, coords[:, 0], coords[:, 1]] = 1.0
    channels = config_lib.stream_slice(stream, run_dir["info"].rgb_dim)
    x = np.concatenate([example["rgb"], example["flow"]], 1)[None, :, channels]
    net = run_dir["nets"]["assg"][stream]
    grown = growing.grow(net.training_heatmaps(net(x), example["labels"][None]), dense,
                         np.ones([1, length], np.float32), example["labels"][None],
                         tf.constant(THETA), tf.constant(THETA)).numpy()[0]
    np.testing.assert_array_equal(maps["grown"][stream]["fg"], grown[:, run_dir["label"] + 1] > 0)
    np.testing.assert_array_equal(maps["grown"][stream]["bg"], grown[:, 0] > 0)
  rgb = maps["grown"]["rgb"]["fg"]
  assert rgb.sum() > maps["seeds"]["rgb"]["fg"].sum()  # the rgb seed grew (see the fixture)


def test_test_video_maps_recompute_seeds_and_match_the_predictor(run_dir):
  example, info = run_dir["test_example"], run_dir["info"]
  maps = figures.video_maps(example, run_dir["run"], run_dir["dir"], "assg")
  c = figures.top_class(example, len(info.class_names))
  assert maps["class_index"] == c and maps["class_name"] == info.class_names[c]
  np.testing.assert_array_equal(maps["gt"], example["segments"][example["segment_labels"] == c])
  features = np.concatenate([example["rgb"], example["flow"]], 1)[None]
  length = features.shape[1]
  mask = np.ones([1, length], np.float32)
  own = {}
  for stream in ("rgb", "flow"):
    channels = config_lib.stream_slice(stream, info.rgb_dim)
    cas_out = run_dir["nets"]["cas"][stream](features[..., channels], mask)
    np.testing.assert_allclose(maps["cas"][stream],
                               cas_lib.localization_map(
                                   cas_out, mask, run_dir["nets"]["cas"][stream].maps
                               ).numpy()[0, :, c],
                               rtol=1e-5, atol=1e-6)
    own[stream] = seeds_lib.initial_seeds(features[..., channels], cas_out, mask,
                                          example["labels"][None], run_dir["cfg"].cas).numpy()[0]
  # The run joins the streams' seeds (the default): both show the joined ones.
  assert run_dir["cfg"].cas.joint_seeds
  dense = seeds_lib.join_dense(np.stack([own["rgb"], own["flow"]]))
  for stream in ("rgb", "flow"):
    assert maps["seeds"][stream]["source"] == "cas"
    np.testing.assert_array_equal(maps["seeds"][stream]["fg"], dense[:, c + 1] > 0)
    np.testing.assert_array_equal(maps["seeds"][stream]["bg"], dense[:, 0] > 0)
  predictor = inference.Predictor(run_dir["nets"]["assg"], info, run_dir["cfg"].predict,
                                  score_nets=run_dir["nets"]["cas"])
  out = predictor.forward(features, np.array([length], np.int32), np.array([0.64], np.float32))
  np.testing.assert_allclose(maps["heatmap_fg"], out["heatmaps"][0, :, c + 1], rtol=1e-5)
  np.testing.assert_allclose(maps["heatmap_bg"], out["heatmaps"][0, :, 0], rtol=1e-5)
  n = int(out["num_detections"][0])
  mine = out["detection_classes"][0, :n].numpy() == c
  np.testing.assert_allclose(maps["scores"], out["detection_scores"][0, :n].numpy()[mine])
  assert len(maps["scores"]) + maps["num_other_detections"] == n


def test_draw_writes_both_pngs_and_names_bad_choices(run_dir, tmp_path):
  video = run_dir["test_example"]["video_id"].decode()
  maps = figures.draw(run_dir["dir"], str(tmp_path / "fig.png"), video,
                        class_name=run_dir["info"].class_names[3],
                        curves=str(tmp_path / "curves.png"))
  assert maps["class_index"] == 3 and maps["video_id"] == video
  for name in ("fig.png", "curves.png"):
    data = (tmp_path / name).read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 20000, name
  assert sorted(os.listdir(tmp_path)) == ["curves.png", "fig.png"]  # no temporary files left
  with pytest.raises(ValueError, match="video_id='no_such_video' is not in this split"):
    figures.draw(run_dir["dir"], str(tmp_path / "x.png"), "no_such_video")
  with pytest.raises(ValueError, match="class_name='Diving' is not a class of the run"):
    figures.draw(run_dir["dir"], str(tmp_path / "x.png"), video, class_name="Diving")
  with pytest.raises(ValueError, match="needs its video_id"):
    figures.draw(run_dir["dir"], str(tmp_path / "x.png"))
  assert not (tmp_path / "x.png").exists()


def test_read_curves_gives_the_logged_values(run_dir):
  curves = figures.read_curves(os.path.join(run_dir["dir"], "logs"))
  assert sorted(curves) == ["assg_rgb", "cas_rgb"]
  steps, values = curves["cas_rgb"]["loss"]
  np.testing.assert_array_equal(steps, [10, 20])
  np.testing.assert_allclose(values, [3.0, 2.0])  # step 20 logged twice: the later value
  np.testing.assert_allclose(curves["cas_rgb"]["validation_mAP"][1], [0.25])
  steps, values = curves["assg_rgb"]["seed_loss"]
  np.testing.assert_array_equal(steps, [10, 30])
  np.testing.assert_allclose(values, [1.5, 1.0])


def test_read_curves_without_logs_is_an_error(tmp_path):
  with pytest.raises(ValueError, match="no stage folders"):
    figures.read_curves(str(tmp_path))


def test_synthetic_classes_are_the_runs(run_dir):
  assert list(run_dir["info"].class_names) == synthetic.class_names("synthetic")


def test_png_gets_the_umask_mode(tmp_path):
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  old = os.umask(0o022)
  try:
    figures._save(plt.figure(), str(tmp_path / "f.png"))  # pylint: disable=protected-access
  finally:
    os.umask(old)
  assert os.stat(tmp_path / "f.png").st_mode & 0o777 == 0o644


def test_help_lists_the_command_flags():
  result = subprocess.run([sys.executable, "-m", "assg_tf.visualize", "--help"],
                          capture_output=True, text=True, timeout=120, check=False)
  for flag in ('--model_dir', '--video_id', '--output', '--curves', '--class_name'):
    assert f"  {flag}:" in result.stdout, flag
