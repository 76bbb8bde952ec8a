"""Smoke runs of the benchmark scripts (seconds, tiny shapes) so that they cannot rot.

The figures they print are measured by running them at full size (docs/RESULTS.md); here only
their output contract is checked.
"""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(script, *args):
  result = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", script), *args],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
  assert result.returncode == 0, result.stderr[-3000:]
  return result.stdout


def test_synthetic_benchmark_smoke(tmp_path):
  out = tmp_path / "results.json"
  stdout = _run("synthetic_benchmark.py", "--spec=synthetic", "--seeds=0,1",
                "--num_train_videos=8", "--num_test_videos=4", "--cas_steps=2",
                "--assg_steps=2", "--num_segments=32", "--batch_size=4", "--hidden_dim=16",
                "--cas_hidden_dim=16", "--cas_attention_dim=8", "--log_every=1",
                "--checkpoint_every=2", f"--workdir={tmp_path / 'work'}", f"--output={out}")
  results = json.loads(out.read_text())
  assert results["seeds"] == [0, 1] and len(results["runs"]) == 2
  for variant in ("cas", "ssg", "assg"):
    assert len(results[variant]["mAP_mean"]) == 7
    assert f"{variant:>5}" in stdout
  diagnostics = results["runs"][0]["diagnostics"]["flow"]
  assert 0.0 <= diagnostics["fg_seed_precision"] <= 1.0
  assert set(diagnostics["assg"]) == {"core_grown_fg", "noncore_grown_fg", "core_grown_bg",
                                      "noncore_grown_bg"}


def test_training_benchmark_smoke():
  stdout = _run("bench_training.py", "--batch=2", "--length=16", "--dim=8", "--classes=3",
                "--repeats=2", "--lengths=16,32")
  assert "ratio ASSG / bare" in stdout
  assert "T=    32" in stdout
