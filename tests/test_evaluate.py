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


def test_help_lists_the_command_flags():
  result = subprocess.run([sys.executable, "-m", "assg_tf.evaluate", "--help"],
                          capture_output=True, text=True, timeout=120, check=False)
  for flag in ('--ground_truth', '--predictions', '--subset', '--tiou_thresholds', '--output'):
    assert f"  {flag}:" in result.stdout, flag
