"""assg_tf.run_dir: the files of a run directory, run.json, atomic writes, export versions."""
import dataclasses
import os

import numpy as np
import pytest

from assg_tf import config as config_lib
from assg_tf import run_dir


def test_paths_of_a_run_directory():
  assert run_dir.model_path("OUT", "assg", "rgb") == os.path.join("OUT", "models",
                                                                  "assg_rgb.keras")
  assert run_dir.seeds_path("OUT", "flow") == os.path.join("OUT", "seeds", "flow.npz")
  assert run_dir.checkpoints_dir("OUT", "cas_rgb") == os.path.join("OUT", "checkpoints",
                                                                   "cas_rgb")
  assert run_dir.logs_dir("OUT") == os.path.join("OUT", "logs")
  assert run_dir.predictions_path("OUT", "cas") == os.path.join("OUT", "predictions", "cas.json")


def test_run_json_round_trip(tmp_path):
  cfg = config_lib.Config(model_dir=str(tmp_path), variants=("cas", "assg"),
                          predict=config_lib.PredictConfig(proposal_thresholds=(0.2, 0.5)))
  info = config_lib.DatasetInfo(("a", "b"), 3, 4, seconds_per_segment=0.64)
  chosen = dataclasses.replace(cfg.predict, rgb_weight=0.7)
  run_dir.write_run(cfg, info, chosen)
  run = run_dir.read_run(str(tmp_path))
  assert run.config == dataclasses.replace(cfg, predict=chosen)
  assert run.info == info and run.info.feature_dim == 7 and run.info.channels == 3
  assert run.streams == ("rgb", "flow") and run.variants == ("cas", "assg")


def test_missing_run_json_names_the_model_dir(tmp_path):
  with pytest.raises(FileNotFoundError) as e:
    run_dir.read_run(str(tmp_path / "run1"))
  assert f"--model_dir={tmp_path / 'run1'}`" in str(e.value)
  assert "{model_dir}" not in str(e.value)


def test_missing_keras_file_and_bad_variant_are_named(tmp_path):
  with pytest.raises(FileNotFoundError, match="cas_rgb.keras"):
    run_dir.load_nets(str(tmp_path), "cas", ["rgb"])
  with pytest.raises(ValueError, match="variant='x'"):
    run_dir.load_nets(str(tmp_path), "x", ["rgb"])


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_write_json_gives_the_file_the_umask_mode(tmp_path, mask):
  """Atomic writes used to leave mkstemp's 0600 whatever the umask."""
  old = os.umask(mask)
  try:
    assert run_dir.umask() == mask
    run_dir.write_json(tmp_path / "m.json", {"a": 1})
  finally:
    os.umask(old)
  assert os.stat(tmp_path / "m.json").st_mode & 0o777 == 0o666 & ~mask
  assert os.listdir(tmp_path) == ["m.json"]


def test_npy_file_is_written_atomically_with_the_umask_mode(tmp_path):
  old = os.umask(0o022)
  try:
    run_dir.write_npy(str(tmp_path / "a" / "x.npy"), np.arange(3, dtype=np.float32))
  finally:
    os.umask(old)
  assert os.stat(tmp_path / "a" / "x.npy").st_mode & 0o777 == 0o644
  assert os.listdir(tmp_path / "a") == ["x.npy"]
  np.testing.assert_array_equal(np.load(tmp_path / "a" / "x.npy"), [0, 1, 2])


def test_a_failed_write_leaves_nothing(tmp_path):
  with pytest.raises(ValueError):
    run_dir.write_json(tmp_path / "bad.json", {"a": float("nan")})
  with pytest.raises(RuntimeError):
    with run_dir.atomic_path(tmp_path / "x.txt"):
      raise RuntimeError("interrupted")
  assert os.listdir(tmp_path) == []


def test_keras_file_is_written_atomically(tmp_path):
  from assg_tf import model as model_lib  # pylint: disable=g-import-not-at-top
  net = model_lib.build_net("assg", 3, 5, config_lib.Config(
      model=config_lib.ModelConfig(hidden_dim=4)))
  path = str(tmp_path / "m" / "assg_rgb.keras")
  run_dir.save_keras(net, path)
  assert os.listdir(tmp_path / "m") == ["assg_rgb.keras"]


def test_versions(tmp_path):
  assert run_dir.versions(str(tmp_path / "none")) == []
  for name in ("1", "3", "x", ".tmp-4-a"):
    os.makedirs(tmp_path / name)
  (tmp_path / "3" / "saved_model.pb").write_bytes(b"")
  assert run_dir.versions(str(tmp_path)) == [1, 3]
  assert run_dir.versions(str(tmp_path), saved_models_only=True) == [3]
