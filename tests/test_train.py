"""`python -m assg_tf.train` end to end on the tiny synthetic dataset, and its resume."""
import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RGB_ONLY = os.path.join(REPO, "datasets", "wtal", "dummy_data", "thumos14_rgb")


def _train_command(model_dir, data_dir, *extra):
  return [sys.executable, "-m", "assg_tf.train",
          f"--flagfile={os.path.join(REPO, 'configs', 'synthetic.flags')}",
          f"--model_dir={model_dir}", f"--data_dir={data_dir}", "--cas_steps=6",
          "--assg_steps=4", "--checkpoint_every=2", "--log_every=2", "--validate_every=4",
          "--num_segments=32", "--hidden_dim=32", "--cas_hidden_dim=32",
          "--variants=cas,ssg,assg", *extra]


def _train(model_dir, data_dir, *extra):
  return subprocess.run(_train_command(model_dir, data_dir, *extra), capture_output=True,
                        text=True, timeout=600, cwd=REPO)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  root = tmp_path_factory.mktemp("train")
  result = _train(root / "out", root / "tfds")
  assert result.returncode == 0, result.stderr[-3000:]
  return root, result


def test_metrics_json_has_the_contract_keys(run):
  root, result = run
  metrics = json.loads((root / "out" / "metrics.json").read_text())
  assert metrics["dataset"] == "synthetic" and metrics["subset"] == "test"
  assert metrics["tiou_thresholds"] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
  for variant in ("cas", "ssg", "assg"):
    m = metrics[variant]
    assert len(m["mAP"]) == 7
    assert all(0.0 <= x <= 1.0 for x in m["mAP"])
    assert m["average_mAP"] == pytest.approx(sum(m["mAP"]) / 7)
    assert m["average_mAP_0.1_0.5"] == pytest.approx(sum(m["mAP"][:5]) / 5)
    assert 0.0 <= m["classification_mAP"] <= 1.0
  assert "assg" in result.stdout and "tIoU" in result.stdout  # the printed table


def test_outputs_predictions_models_export(run):
  root, _ = run
  out = root / "out"
  for variant in ("cas", "ssg", "assg"):
    results = json.loads((out / "predictions" / f"{variant}.json").read_text())["results"]
    assert len(results) == 60  # every test video of the tiny dataset
    for stream in ("rgb", "flow"):
      assert (out / "models" / f"{variant}_{stream}.keras").is_file()
  assert (out / "seeds" / "rgb.npz").is_file() and (out / "seeds" / "flow.npz").is_file()
  assert (out / "export" / "1" / "saved_model.pb").is_file()
  run_json = json.loads((out / "run.json").read_text())
  assert run_json["rgb_dim"] == run_json["flow_dim"] == 32


def _checkpoints(model_dir):
  """{stage: {variable: value}} of the latest checkpoint of every stage."""
  import tensorflow as tf
  values = {}
  for stage in sorted(os.listdir(model_dir / "checkpoints")):
    path = tf.train.latest_checkpoint(str(model_dir / "checkpoints" / stage))
    reader = tf.train.load_checkpoint(path)
    values[stage] = {name: reader.get_tensor(name) for name, _ in tf.train.list_variables(path)
                     if name != "_CHECKPOINTABLE_OBJECT_GRAPH"}
  return values


def test_interrupted_run_stops_cleanly_and_resumes_to_the_same_weights_and_metrics(run):
  # Runs before test_rerun_..., which trains the fixture's run further.
  root, _ = run
  out = root / "interrupted"
  proc = subprocess.Popen(_train_command(out, root / "tfds"), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, cwd=REPO)
  head = []
  for line in proc.stderr:
    head.append(line)
    if "cas_flow step 4/6" in line:  # cas_rgb done; cas_flow checkpoint 2 saved; no seeds yet
      proc.send_signal(signal.SIGINT)  # Ctrl-C
      break
  log = "".join(head) + proc.communicate(timeout=300)[1]
  assert proc.returncode == 1, log[-3000:]
  assert "Traceback" not in log
  assert log.strip().splitlines()[-1] == (
      f"interrupted; the checkpoints in {out} are kept: run the same command again to resume")
  assert not (out / "metrics.json").exists()

  resumed = _train(out, root / "tfds")
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert re.search(r"cas_flow: resuming from step [24] ", resumed.stderr)
  assert "cas_rgb: already trained to step 6" in resumed.stderr
  reference, values = _checkpoints(root / "out"), _checkpoints(out)
  assert sorted(values) == sorted(reference) == [
      f"{v}_{s}" for v in ("assg", "cas", "ssg") for s in ("flow", "rgb")]
  for stage, variables in reference.items():
    assert sorted(values[stage]) == sorted(variables)
    for name, value in variables.items():
      np.testing.assert_array_equal(values[stage][name], value, err_msg=f"{stage} {name}")
  # Identical weights give the same metrics up to float summation order: TensorFlow's CPU
  # reductions are not bit-reproducible from process to process, and a last-bit difference can
  # move a proposal boundary.
  metrics = json.loads((out / "metrics.json").read_text())
  expected = json.loads((root / "out" / "metrics.json").read_text())
  assert metrics.keys() == expected.keys()
  for variant in ("cas", "ssg", "assg"):
    if variant in expected:
      assert metrics[variant]["mAP"] == pytest.approx(expected[variant]["mAP"], abs=1e-3)
      assert metrics[variant]["predict"] == expected[variant]["predict"]


def test_rerun_resumes_every_stage_instead_of_training_again(run):
  root, _ = run
  result = _train(root / "out", root / "tfds", "--assg_steps=6")
  assert result.returncode == 0, result.stderr[-3000:]
  log = result.stderr
  assert "cas_rgb: already trained to step 6" in log
  assert "assg_flow: resuming from step 4" in log
  assert (root / "out" / "export" / "2" / "saved_model.pb").is_file()


def test_ground_truth_json_reproduces_the_metrics_with_evaluate(run):
  """OUT/ground_truth.json is the G of the README's evaluate command for this run."""
  root, _ = run
  out = root / "out"
  database = json.loads((out / "ground_truth.json").read_text())["database"]
  assert len(database) == 60 and {e["subset"] for e in database.values()} == {"test"}
  result = subprocess.run(
      [sys.executable, "-m", "assg_tf.evaluate", f"--ground_truth={out / 'ground_truth.json'}",
       f"--predictions={out / 'predictions' / 'assg.json'}", "--subset=test",
       "--tiou_thresholds=0.1,0.2,0.3,0.4,0.5,0.6,0.7", f"--output={root / 'eval.json'}"],
      capture_output=True, text=True, timeout=120, cwd=REPO, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  metrics = json.loads((out / "metrics.json").read_text())
  assert json.loads((root / "eval.json").read_text())["mAP"] == pytest.approx(
      metrics["assg"]["mAP"], abs=1e-6)


def _command(module, *args):
  return subprocess.run([sys.executable, "-m", f"assg_tf.{module}", *args], capture_output=True,
                        text=True, timeout=300, cwd=REPO)


@pytest.mark.parametrize("args,message", [
    (["--learning_rate=-1"], "error: --learning_rate=-1.0: expected a positive number"),
    (["--checkpoint_every=0"], "error: --checkpoint_every=0: expected a positive int"),
    (["--dataset=thumos15"], "error: --dataset='thumos15': expected one of synthetic, "
     "synthetic_thumos, synthetic_anet, thumos14, activitynet13, thumos14_rgb, "
     "activitynet13_rgb"),
    (["--dataset=thumos14", "--manual_dir=/nonexistent/features"],
     "error: feature folder /nonexistent/features does not exist; expected one of:"),
    # an RGB-only folder (no flow/ folders, as extract_features writes) cannot train flow
    (["--dataset=thumos14", f"--manual_dir={RGB_ONLY}", "--streams=rgb,flow"],
     f"error: --streams=rgb,flow: {RGB_ONLY}/features/train/flow does not exist (the folder "
     "holds RGB features only); train with --streams=rgb, or add the flow features"),
])
def test_bad_input_is_one_message_and_writes_nothing(tmp_path, args, message):
  out = tmp_path / "out"
  result = _command("train", f"--flagfile={os.path.join(REPO, 'configs', 'synthetic.flags')}",
                    f"--model_dir={out}", f"--data_dir={tmp_path / 'tfds'}", *args)
  assert result.returncode == 1
  assert "Traceback" not in result.stderr
  assert message in result.stderr.splitlines()
  assert not out.exists()


def test_missing_seeds_file_is_refused_before_anything_is_written(run, tmp_path):
  root, _ = run
  out = tmp_path / "out"
  result = _train(out, root / "tfds", f"--seeds_file={tmp_path}/seeds_{{stream}}.npz")
  assert result.returncode == 1
  assert "Traceback" not in result.stderr
  assert f"error: seeds file {tmp_path}/seeds_rgb.npz does not exist" in result.stderr
  assert not out.exists()


def test_help_lists_the_training_flags():
  result = _command("train", "--help")  # absl exits with status 1 after --help
  for flag in ("--model_dir", "--manual_dir", "--dataset", "--learning_rate", "--cas_steps",
               "--assg_steps", "--checkpoint_every", "--variants", "--streams"):
    assert f"  {flag}:" in result.stdout, flag
  assert "Adam learning rate of ASSG." in result.stdout


def test_deterministic_runs_one_op_at_a_time_on_one_thread():
  # Measured: multi-threaded ASSG steps differ in their last bits; one thread is reproducible.
  script = ("import sys, tensorflow as tf\n"
            "from assg_tf import train\n"
            "train.define_flags(); train.FLAGS(sys.argv)\n"
            "train.set_threads(train.FLAGS.deterministic)\n"
            "print(tf.config.threading.get_intra_op_parallelism_threads(),"
            " tf.config.threading.get_inter_op_parallelism_threads())\n")
  for args, expected in ((["--deterministic"], "1 1"), ([], "0 0")):
    result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                            text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[-2] == expected
