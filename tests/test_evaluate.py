"""Tests of the `python -m assg_tf.evaluate` command, run as a subprocess."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "eval")
with open(os.path.join(FIXTURES, "expected.json"), encoding="utf-8") as _f:
  EXPECTED = json.load(_f)


def run(*args, cwd=None):
  return subprocess.run([sys.executable, "-m", "assg_tf.evaluate", *args], cwd=cwd,
                        capture_output=True, text=True, timeout=120, check=False)


def test_thumos_fixture_table_and_output(tmp_path):
  case = EXPECTED["thumos14_test"]
  thresholds = ",".join(str(t) for t in case["tiou_thresholds"])
  flagfile = tmp_path / "eval.flags"  # flags from --flagfile, later flags winning
  flagfile.write_text(f"--ground_truth={os.path.join(FIXTURES, case['ground_truth'])}\n"
                      f"--subset=validation\n--tiou_thresholds={thresholds}\n")
  output = tmp_path / "metrics" / "thumos.json"
  proc = run(f"--flagfile={flagfile}", "--subset=test",
             f"--predictions={os.path.join(FIXTURES, case['predictions'])}", "--per_class",
             f"--output={output}")
  assert proc.returncode == 0, proc.stderr
  lines = proc.stdout.splitlines()
  for t, m in zip(case["tiou_thresholds"], case["mAP"]):
    assert f"{t:>6.2f}  {100 * m:>8.2f}" in lines
  assert f"average mAP (%) over tIoU 0.1:0.9: {100 * case['average_mAP']:.2f}" in lines
  assert (f"average mAP (%) over tIoU 0.1:0.5: {100 * np.mean(case['mAP'][:5]):.2f}"
          in lines)
  assert "212 videos, 3358 segments, 20 classes" in proc.stdout
  assert any(line.startswith("BasketballDunk") and line.split()[1] == "488" for line in lines)

  with open(output, encoding="utf-8") as f:
    metrics = json.load(f)
  assert metrics["tiou_thresholds"] == case["tiou_thresholds"]
  np.testing.assert_allclose(metrics["mAP"], case["mAP"], atol=1e-6)
  assert metrics["average_mAP"] == pytest.approx(case["average_mAP"], abs=1e-6)
  per_class = np.array(list(metrics["per_class_AP"].values()))
  assert per_class.shape == (20, 9)
  np.testing.assert_allclose(per_class.mean(axis=0), case["mAP"], atol=1e-6)
  assert os.listdir(output.parent) == ["thumos.json"]


def test_ambiguous_flag(tmp_path):
  gt = {"database": {"v": {"subset": "test", "annotations": [
      {"label": "a", "segment": [0, 10]}, {"label": "Ambiguous", "segment": [20, 30]}]}}}
  pred = {"results": {"v": [{"label": "a", "segment": [21, 29], "score": 0.9},
                            {"label": "a", "segment": [0, 10], "score": 0.8}]}}
  (tmp_path / "gt.json").write_text(json.dumps(gt))
  (tmp_path / "pred.json").write_text(json.dumps(pred))
  common = ["--ground_truth=gt.json", "--predictions=pred.json", "--tiou_thresholds=0.5",
            "--output=out.json"]
  for flag, expected in (("--noambiguous", 0.5), ("--ambiguous", 1.0)):
    proc = run(*common, flag, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "out.json", encoding="utf-8") as f:
      assert json.load(f)["mAP"] == [pytest.approx(expected, abs=1e-12)]


def test_bad_input_is_a_one_line_error(tmp_path):
  proc = run(f"--ground_truth={os.path.join(FIXTURES, 'anet13_val_gt.json')}",
             f"--predictions={os.path.join(FIXTURES, 'anet13_val_pred.json')}",
             "--subset=Validation", f"--output={tmp_path / 'out.json'}")
  assert proc.returncode == 1
  assert proc.stderr.strip().endswith(
      "anet13_val_gt.json: subset 'Validation' matches no video; subsets present: "
      "['validation']")
  assert not os.listdir(tmp_path)


def test_suspicious_detections_are_counted_and_the_map_is_unchanged(tmp_path):
  gt = {"database": {"v": {"subset": "test", "annotations": [
      {"label": "a", "segment": [0, 10]}]},
                     "w": {"subset": "train", "annotations": [{"label": "a", "segment": [0, 4]}]}}}
  pred = {"results": {
      "v": [{"label": "a", "segment": [-1, 10], "score": 0.9},
            {"label": "a", "segment": [5, 5], "score": 0.8}],
      "w": [{"label": "a", "segment": [0, 4], "score": 0.7}],  # not in subset test
      "x": [{"label": "a", "segment": [0, 4], "score": 0.6},  # in no subset at all
            {"label": "a", "segment": [-2, -2], "score": 0.5}]}}
  (tmp_path / "gt.json").write_text(json.dumps(gt))
  (tmp_path / "pred.json").write_text(json.dumps(pred))
  proc = run("--ground_truth=gt.json", "--predictions=pred.json", "--subset=test",
             "--tiou_thresholds=0.5", "--output=out.json", cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr
  assert proc.stderr.splitlines() == [
      "warning: 3 detections of 2 videos not in subset 'test' of the ground truth: counted as "
      "false positives",
      "warning: 2 detections start before 0 s: evaluated as given",
      "warning: 2 detections have zero length (end == start): tIoU 0, false positives at "
      "every threshold"]
  with open(tmp_path / "out.json", encoding="utf-8") as f:
    assert json.load(f)["mAP"] == [pytest.approx(1.0)]  # the top detection is a hit (tIoU 10/11)
  proc = run(f"--ground_truth={os.path.join(FIXTURES, 'thumos14_test_gt.json')}",
             f"--predictions={os.path.join(FIXTURES, 'thumos14_test_pred.json')}",
             "--subset=test", "--tiou_thresholds=0.5")
  assert proc.returncode == 0 and proc.stderr == ""


@pytest.mark.parametrize("name,subset,summary", [
    ("thumos14", "test", "213 videos, 3358 segments, 20 classes, 99 Ambiguous segments"),
    ("thumos14", "validation", "200 videos, 3007 segments, 20 classes, 89 Ambiguous segments"),
    ("activitynet13", "validation", "4728 videos, 7293 segments, 200 classes, 0 Ambiguous"),
])
def test_shipped_ground_truth_by_name(tmp_path, name, subset, summary):
  pred = "thumos14_test_pred.json" if name == "thumos14" else "anet13_val_pred.json"
  proc = run(f"--ground_truth={name}", f"--subset={subset}", "--tiou_thresholds=0.5",
             f"--predictions={os.path.join(FIXTURES, pred)}", cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr
  assert f"ground truth: {name} (assg_tf/data) (subset {subset!r}): {summary}" in proc.stdout


def test_a_file_named_like_a_benchmark_wins(tmp_path):
  (tmp_path / "thumos14").write_text(json.dumps({"database": {"v": {
      "subset": "test", "annotations": [{"label": "a", "segment": [0, 1]}]}}}))
  (tmp_path / "pred.json").write_text(json.dumps({"results": {}}))
  proc = run("--ground_truth=thumos14", "--predictions=pred.json", cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr
  assert "ground truth: thumos14 (all videos): 1 videos, 1 segments" in proc.stdout


def test_evaluate_imports_neither_tensorflow_nor_keras(tmp_path):
  """docs/DESIGN.md "Pitfalls": the numpy-only command must not pay for TensorFlow (checked by -X
  importtime)."""
  case = EXPECTED["thumos14_test"]
  proc = subprocess.run(
      [sys.executable, "-X", "importtime", "-m", "assg_tf.evaluate",
       f"--ground_truth={os.path.join(FIXTURES, case['ground_truth'])}",
       f"--predictions={os.path.join(FIXTURES, case['predictions'])}", "--subset=test"],
      capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr[-1500:]
  imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines()
              if line.startswith("import time:")}
  assert "numpy" in imported and "absl.flags" in imported
  heavy = sorted(m for m in imported
                 if m.split(".")[0] in ("tensorflow", "keras", "sklearn", "tensorflow_datasets"))
  assert not heavy, heavy[:5]


def test_help_lists_the_command_flags():
  result = subprocess.run([sys.executable, "-m", "assg_tf.evaluate", "--help"],
                          capture_output=True, text=True, timeout=120, check=False)
  for flag in ('--ground_truth', '--predictions', '--subset', '--tiou_thresholds', '--output'):
    assert f"  {flag}:" in result.stdout, flag
