"""The TF Serving SavedModel (docs/DESIGN.md "Serving"): same numbers as the Python path, without
assg_tf.

The exported model is loaded in a fresh Python process in which `import assg_tf` is impossible
(sys.modules["assg_tf"] = None before anything else), so it can only run if the SavedModel
needs TensorFlow alone. Untrained networks with random weights are enough: the test is about
the export reproducing `inference.Predictor.forward`, not about accuracy.
"""
import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from assg_tf import config as config_lib
from assg_tf import run_dir as run_dir_lib
from assg_tf import serving
from assg_tf import inference
from assg_tf import model as model_lib

RGB_DIM, FLOW_DIM, NUM_CLASSES = 6, 5, 3  # different widths: a swapped stream order shows
DELTA = 0.64
CLASS_NAMES = ("jump", "run", "swim")

# Runs in the fresh process: argv = saved model dir, inputs .npz, outputs .npz, errors .json.
_CLIENT = textwrap.dedent("""
    import sys
    sys.modules["assg_tf"] = None  # any import of assg_tf now raises ImportError
    import json
    import numpy as np
    import tensorflow as tf
    try:
      import assg_tf  # noqa: F401
      raise SystemExit("assg_tf is importable in the serving process")
    except ImportError:
      pass
    saved_dir, inputs_path, outputs_path, errors_path = sys.argv[1:]
    loaded = tf.saved_model.load(saved_dir)
    serve = loaded.signatures["serving_default"]
    inputs = np.load(inputs_path)
    outputs = {}
    for case in ("t50", "t3000", "batch2", "batch0", "after_errors"):
      if case == "after_errors":
        errors = {}
        bad = {
            "width": (np.zeros([1, 4, inputs["t50_features"].shape[-1] + 1], np.float32), [4]),
            "rank": (np.zeros([4, inputs["t50_features"].shape[-1]], np.float32), [4]),
            "empty_time": (np.zeros([1, 0, inputs["t50_features"].shape[-1]], np.float32), [0]),
            "too_long": (inputs["t50_features"], [51]),
            "zero_length": (inputs["t50_features"], [0]),
            "batch_mismatch": (inputs["t50_features"], [50, 50]),
            "segments_rank": (inputs["t50_features"], [[50]]),
            "nan": (np.where(np.arange(50)[None, :, None] == 7, np.nan,
                             inputs["t50_features"]).astype(np.float32), [50]),
        }
        for name, (features, num_segments) in bad.items():
          try:
            serve(features=tf.constant(features),
                  num_segments=tf.constant(num_segments, tf.int32))
            errors[name] = ["no error", ""]
          except Exception as e:  # pylint: disable=broad-except
            errors[name] = [type(e).__name__, str(e)]
        with open(errors_path, "w") as f:
          json.dump(errors, f)
        features, num_segments = inputs["t50_features"], inputs["t50_num_segments"]
      else:
        features, num_segments = inputs[case + "_features"], inputs[case + "_num_segments"]
      result = serve(features=tf.constant(features), num_segments=tf.constant(num_segments))
      outputs.update({f"{case}_{k}": v.numpy() for k, v in result.items()})
    outputs["class_names"] = loaded.class_names()["class_names"].numpy().astype(str)
    outputs["seconds_per_segment"] = loaded.seconds_per_segment()["seconds_per_segment"].numpy()
    with open(loaded.class_names_asset.asset_path.numpy().decode()) as f:
      outputs["asset_class_names"] = np.array(f.read().split())
    np.savez(outputs_path, **outputs)
""")


def _nets(cfg):
  nets = {"rgb": model_lib.build_net("assg", NUM_CLASSES, RGB_DIM, cfg, name="assg_rgb"),
          "flow": model_lib.build_net("assg", NUM_CLASSES, FLOW_DIM, cfg, name="assg_flow")}
  rng = np.random.default_rng(0)
  for net in nets.values():  # sharper heatmaps than the initialisation gives: more detections
    for variable in net.trainable_variables:
      variable.assign(rng.normal(0.0, 0.6, variable.shape).astype(np.float32))
  return nets


def _inputs():
  rng = np.random.default_rng(1)
  dim = RGB_DIM + FLOW_DIM
  t50 = rng.normal(size=[1, 50, dim]).astype(np.float32)
  t3000 = np.cumsum(rng.normal(size=[1, 3000, dim]), axis=1).astype(np.float32) / 10.0
  batch2 = rng.normal(size=[2, 80, dim]).astype(np.float32)
  return {
      "t50_features": t50, "t50_num_segments": np.array([50], np.int32),
      "t3000_features": t3000, "t3000_num_segments": np.array([3000], np.int32),
      "batch2_features": batch2, "batch2_num_segments": np.array([80, 33], np.int32),
      "batch0_features": np.zeros([0, 10, dim], np.float32),
      "batch0_num_segments": np.zeros([0], np.int32),
  }


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  """Exports random nets, runs the client process and `saved_model_cli` side by side."""
  tmp = tmp_path_factory.mktemp("export")
  cfg = config_lib.Config(model=config_lib.ModelConfig(hidden_dim=16),
                          predict=config_lib.PredictConfig(video_scores="own"))
  nets = _nets(cfg)
  info = config_lib.DatasetInfo(CLASS_NAMES, RGB_DIM, FLOW_DIM, seconds_per_segment=DELTA)
  base = str(tmp / "export")
  path = serving.export_saved_model(nets, info, cfg, base)
  inputs = _inputs()
  np.savez(tmp / "inputs.npz", **inputs)
  run_dir = tmp / "run"  # the same nets as a trained run leaves them, for the command line
  for stream, net in nets.items():
    run_dir_lib.save_keras(net, str(run_dir / "models" / f"assg_{stream}.keras"))
  with open(run_dir / "run.json", "w") as f:
    json.dump({"dataset": "synthetic", "class_names": list(CLASS_NAMES), "rgb_dim": RGB_DIM,
               "flow_dim": FLOW_DIM, "seconds_per_segment": DELTA, "variants": ["assg"],
               "streams": ["rgb", "flow"], "config": dataclasses.asdict(cfg)}, f)
  command = subprocess.Popen(
      [sys.executable, "-m", "assg_tf.export", f"--model_dir={run_dir}",
       f"--export_dir={tmp / 'cli_export'}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True, cwd=str(tmp))
  client = subprocess.Popen(
      [sys.executable, "-c", _CLIENT, path, str(tmp / "inputs.npz"), str(tmp / "outputs.npz"),
       str(tmp / "errors.json")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
      cwd=str(tmp))
  cli = subprocess.run(
      [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show", "--dir", path,
       "--all"], capture_output=True, text=True, check=False, cwd=str(tmp))
  client_log = client.communicate()[0]
  assert client.returncode == 0, client_log[-3000:]
  command_out, command_err = command.communicate()
  assert command.returncode == 0, command_err[-3000:]
  predictor = inference.Predictor(nets, info, cfg.predict)
  with np.load(tmp / "outputs.npz") as f:
    outputs = dict(f)
  with open(tmp / "errors.json") as f:
    errors = json.load(f)
  return {"base": base, "path": path, "nets": nets, "info": info, "cfg": cfg,
          "predictor": predictor, "inputs": inputs, "outputs": outputs, "errors": errors,
          "cli": cli, "command_out": command_out, "cli_export": str(tmp / "cli_export")}


@pytest.mark.parametrize("case", ["t50", "t3000", "batch2", "batch0"])
def test_serving_default_equals_the_python_path(exported, case):
  inputs, outputs = exported["inputs"], exported["outputs"]
  features = inputs[case + "_features"]
  num_segments = inputs[case + "_num_segments"]
  want = exported["predictor"].forward(
      features, num_segments, np.full([len(num_segments)], DELTA, np.float32))
  assert set(serving.SIGNATURE_OUTPUTS) == set(want)
  for key, value in want.items():
    got = outputs[f"{case}_{key}"]
    assert got.shape == value.shape, key
    if value.dtype.is_integer:
      np.testing.assert_array_equal(got, value.numpy(), err_msg=key)
    else:
      np.testing.assert_allclose(got, value.numpy(), rtol=1e-5, atol=1e-6, err_msg=key)
  if case != "batch0":  # an empty batch gives empty outputs, of the right shapes
    assert outputs[f"{case}_num_detections"].min() > 0  # the comparison covers detections
  assert outputs[f"{case}_heatmaps"].shape[:2] == features.shape[:2]


def test_padding_rows_and_lengths_of_a_batch(exported):
  out = exported["outputs"]
  np.testing.assert_array_equal(out["batch2_heatmaps"][1, 33:], 0.0)
  # Each class against the background (the default label_softmax networks), each stream's
  # channel 0 = 1 - its likeliest class's heat; fused, channel 0 + any class's heat <= 1.
  heat = out["batch2_heatmaps"][1, :33]
  assert np.all((heat >= 0) & (heat <= 1))
  assert np.all(heat[:, 0] + heat[:, 1:].max(-1) <= 1.0 + 1e-6)
  ends = out["batch2_detection_segments"][1, :out["batch2_num_detections"][1], 1]
  assert ends.max() <= 33 * DELTA + 1e-5  # no detection in the padding of the short video


def test_class_names_and_time_base_travel_with_the_model(exported):
  out = exported["outputs"]
  assert list(out["class_names"]) == list(CLASS_NAMES)
  assert list(out["asset_class_names"]) == list(CLASS_NAMES)
  assert out["seconds_per_segment"] == np.float32(DELTA)


def test_bad_requests_fail_clearly_and_the_model_keeps_serving(exported):
  errors = exported["errors"]
  dim = RGB_DIM + FLOW_DIM
  expected = {
      "width": f"Shape of tensor features \\[1,4,{dim + 1}\\] is not compatible with "
               f"expected shape \\[\\?,\\?,{dim}\\]",
      "rank": f"Shape of tensor features \\[4,{dim}\\] is not compatible",
      "segments_rank": "Shape of tensor num_segments \\[1,1\\] is not compatible",
      "empty_time": "T \\(axis 1\\) must be >= 1",
      "too_long": "num_segments must not exceed T",
      "zero_length": "every video needs at least 1 segment",
      "batch_mismatch": "one entry per video of features",
      "nan": "features must be finite",
  }
  for name, pattern in expected.items():
    kind, message = errors[name]
    assert kind == "InvalidArgumentError", (name, kind, message)
    assert __import__("re").search(pattern, message), (name, message)
  # A good request after all of them gives the same answer as before them.
  out = exported["outputs"]
  for key in serving.SIGNATURE_OUTPUTS:
    np.testing.assert_array_equal(out[f"after_errors_{key}"], out[f"t50_{key}"])


def test_saved_model_cli_lists_the_signature(exported):
  cli = exported["cli"]
  assert cli.returncode == 0, cli.stderr[-2000:]
  text = cli.stdout
  assert "signature_def['serving_default']" in text
  section = text[text.index("signature_def['serving_default']"):]
  for name in serving.SIGNATURE_INPUTS + serving.SIGNATURE_OUTPUTS:
    assert f"['{name}']" in section, name
  assert f"shape: (-1, -1, {RGB_DIM + FLOW_DIM})" in section
  assert f"shape: (-1, -1, {NUM_CLASSES + 1})" in section


def test_versions_are_consecutive_and_nothing_half_written_is_left(exported):
  base = exported["base"]
  assert exported["path"] == os.path.join(base, "1")
  second = serving.export_saved_model(exported["nets"], exported["info"], exported["cfg"],
                                      base)
  assert second == os.path.join(base, "2")
  assert sorted(os.listdir(base)) == ["1", "2"]  # no temporary folder left behind
  with pytest.raises(FileExistsError, match="already exists"):
    serving.export_saved_model(exported["nets"], exported["info"], exported["cfg"], base,
                               version=1)
  assert sorted(os.listdir(base)) == ["1", "2"]


def test_export_rejects_bad_arguments(tmp_path):
  cfg = config_lib.Config(model=config_lib.ModelConfig(hidden_dim=4),
                          predict=config_lib.PredictConfig(video_scores="own"))
  info = config_lib.DatasetInfo(CLASS_NAMES, RGB_DIM, FLOW_DIM, seconds_per_segment=DELTA)
  net = model_lib.build_net("assg", NUM_CLASSES, RGB_DIM, cfg)
  with pytest.raises(ValueError, match="expected a non-empty subset"):
    serving.export_saved_model({"depth": net}, info, cfg, str(tmp_path))
  with pytest.raises(ValueError, match="seconds_per_segment"):
    serving.export_saved_model({"rgb": net}, dataclasses.replace(info, seconds_per_segment=0.0),
                               cfg, str(tmp_path))


def test_command_line_exports_a_trained_run(exported):
  path = os.path.join(exported["cli_export"], "1")
  assert f"exported assg (flow, rgb) to {path}" in exported["command_out"]
  serve = tf.saved_model.load(path).signatures["serving_default"]
  inputs, outputs = exported["inputs"], exported["outputs"]
  got = serve(features=tf.constant(inputs["batch2_features"]),
              num_segments=tf.constant(inputs["batch2_num_segments"]))
  for key in serving.SIGNATURE_OUTPUTS:
    np.testing.assert_allclose(got[key].numpy(), outputs[f"batch2_{key}"], rtol=1e-6, atol=1e-7,
                               err_msg=key)


def test_help_lists_the_command_flags():
  result = subprocess.run([sys.executable, "-m", "assg_tf.export", "--help"],
                          capture_output=True, text=True, timeout=120, check=False)
  for flag in ('--model_dir', '--export_dir', '--variant', '--version'):
    assert f"  {flag}:" in result.stdout, flag
