"""Smoke runs of the benchmark scripts (seconds, tiny shapes) so that they cannot rot.

The figures they print are measured by running them at full size (docs/RESULTS.md); here only
their output contract is checked.
"""
import json
import os
import subprocess
import sys

import numpy as np

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
  assert {"core_grown_fg", "noncore_grown_fg", "core_grown_bg", "noncore_grown_bg",
          "grown_fg_precision", "erased_noncore"} <= set(diagnostics["assg"])


def test_training_benchmark_smoke():
  stdout = _run("bench_training.py", "--batch=2", "--length=16", "--dim=8", "--classes=3",
                "--repeats=2", "--lengths=16,32", "--loop_steps=3")
  assert "ratio ASSG / bare" in stdout and "CAS seed network step" in stdout
  assert stdout.count("loop / step") == 2  # the CAS and ASSG training loops
  assert "GFLOP/s" in stdout and "x the limit" in stdout
  assert "T=    32" in stdout


def test_iterator_teardown_benchmark_smoke():
  stdout = _run("bench_iterator_teardown.py", "--seconds=0.1,0.2")
  lines = stdout.splitlines()
  assert [line.split()[0] for line in lines] == ["ours", "tf_default"]
  assert all("deletion after 0.1 s: " in line and "0.2 s: " in line for line in lines)


def test_experiments_smoke(tmp_path):
  """benchmarks/experiments.py on a few tiny videos: its JSON, PNG and caching contract."""
  args = ["--flagfile=benchmarks/regimes/thumos.flags", "--spec=synthetic", "--regime=smoke",
          "--feature_dim=16", "--num_train_videos=6", "--num_test_videos=3", "--seeds=0",
          "--cas_steps=2", "--assg_steps=2", "--num_segments=16", "--batch_size=3",
          "--hidden_dim=8", "--cas_hidden_dim=8", "--cas_attention_dim=4",
          "--experiment=table1", f"--workdir={tmp_path / 'work'}",
          f"--output_dir={tmp_path / 'out'}"]
  stdout = _run("experiments.py", *args)
  result = json.loads((tmp_path / "out" / "table1_smoke.json").read_text())
  assert (tmp_path / "out" / "table1_smoke.png").stat().st_size > 1000
  assert [r["name"] for r in result["rows"]] == ["ASSG, SAP", "ASSG, SAP_MEAN", "ASSG, GAP",
                                                 "ASSG, GMP", "ASSG, TOPK"]
  assert result["seeds"] == [0] and result["config"]["model"]["hidden_dim"] == 8
  for row in result["rows"]:
    summary = row["summary"]["test"]
    assert len(summary["mAP_mean"]) == 7 and summary["mAP_std"] == [0.0] * 7
    assert summary["average_mAP_mean"] == 100 * row["per_seed"][0]["test"]["average_mAP"]
    run = row["per_seed"][0]
    assert 0.0 <= run["diagnostics"]["flow"]["fg_seed_precision"] <= 1.0
    assert 0.0 <= run["diagnostics"]["flow"]["assg"]["erased_noncore"] <= 1.0
    assert 0.0 <= run["own_classification_mAP"] <= 1.0
    # None of these 6 training videos is held out: nothing to choose on, the defaults stay.
    assert run["validation"] == []
    assert run["predict"] == {"rgb_weight": 0.3, "proposal_score": "contrast",
                              "video_score_weight": 0.0, "smoothing": 1}
  assert "| ASSG, GMP |" in stdout and "trained in" in stdout
  table = stdout.split("seeds and growth")[0]
  assert all(f"| ASSG, {p} | " in table for p in ("SAP", "SAP_MEAN", "GAP", "GMP", "TOPK"))
  assert "| ASSG, GAP | " in stdout.split("seeds and growth")[1]  # the diagnostics table
  # A second run trains nothing: every row comes from the cache, with the same numbers.
  again = _run("experiments.py", *args)
  assert "trained in" not in again
  assert json.loads((tmp_path / "out" / "table1_smoke.json").read_text())["rows"] == \
      result["rows"]
  # detection_lengths.py reuses the cached STPN CAS networks (and trains the MIL ones).
  lengths = _run("detection_lengths.py", *args[:-2], f"--workdir={tmp_path / 'work'}")
  assert "STPN-CAS, mean proposal score:" in lengths and "MIL-CAS, contrast" in lengths
  assert "true instances, median" in lengths
  # seed_statistics.py reuses the cached MIL CAS networks: one row per stream and region, and
  # per background rule (threshold / absent-class level, own / joined seeds).
  stats = _run("seed_statistics.py", *args[:-2], f"--workdir={tmp_path / 'work'}")
  for row in ("| flow | core (", "| rgb | outside (", "| threshold alone | own |",
              "| absent-class level 0.9 | joined |"):
    assert row in stats, stats
  # sap_attention.py reuses the cached SAP and SAP_MEAN networks: one row per stream of each.
  attention = _run("sap_attention.py", *args[:-2], f"--workdir={tmp_path / 'work'}")
  for row in ("| sap | flow | ", "| sap | rgb | ", "| sap_mean | flow | ", "| sap_mean | rgb | "):
    assert row in attention, attention
  assert "trained in" not in attention


def test_experiments_regime_flagfiles_parse_and_bad_experiment_is_a_clear_error():
  for regime in ("thumos", "anet"):
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "benchmarks", "experiments.py"),
         f"--flagfile=benchmarks/regimes/{regime}.flags", "--experiment=table9"],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "--experiment='table9': expected table2, providers, table1, figure4, background, " \
        "bgseeds, fgseeds, default or all" in result.stderr


def test_evaluate_process_benchmark_smoke():
  stdout = _run("bench_evaluate_process.py", "--repeats=1")
  assert "python -m assg_tf.evaluate" in stdout and "per-prediction loop" in stdout
  assert "mAP of evaluate and of the loop agree" in stdout


def test_realism_smoke():
  stdout = _run("realism.py", "--videos=3", "--feature_dim=40")
  assert "| real I3D sample, rgb, 2.56 s | 0.798 | 0.631 |" in stdout
  assert "| synthetic_anet, flow, 0.64 s |" in stdout


def test_extract_features_benchmark_smoke():
  """benchmarks/bench_extract_features.py on a 1.4 s synthetic clip with a narrow random I3D."""
  import pytest  # pylint: disable=g-import-not-at-top
  pytest.importorskip("av")
  stdout = _run("bench_extract_features.py", "--seconds=1.4", "--width_multiplier=0.0625",
                "--batch_size=2")
  assert "decode: 35 frames at 25 fps" in stdout
  assert "network: 2 snippets of 16 frames" in stdout
  assert "decode share of decode + network:" in stdout
  assert "end to end: 2 snippets in" in stdout and "real-time factor" in stdout


def test_write_synthetic_layout_writes_the_spec_it_names(tmp_path):
  import dataclasses  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from assg_tf import synthetic  # pylint: disable=g-import-not-at-top
  stdout = _run("write_synthetic_layout.py", "--spec=synthetic", "--feature_dim=16",
                "--class_scale=2", "--seed=3", "--num_train_videos=2", "--num_test_videos=1",
                f"--out={tmp_path}")
  assert "class strengths rgb 8 / flow 12, seed 3" in stdout
  spec = dataclasses.replace(synthetic.SPECS["synthetic"], feature_dim=16, seed=3,
                             num_train_videos=2, num_test_videos=1, rgb_class_strength=8.0,
                             flow_class_strength=12.0)
  gt = json.loads((tmp_path / "gt.json").read_text())["database"]
  assert len(gt) == 3
  for example in synthetic.generate_split(spec, "test"):
    for stream in ("rgb", "flow"):
      written = np.load(tmp_path / "features" / "test" / stream / f"{example['video_id']}.npy")
      np.testing.assert_array_equal(written, example[stream])


def test_sap_attention_effective_segments_known_cases():
  # In a process of its own: the script defines experiments.py's absl flags on import.
  code = ("import numpy as np, sap_attention as s\n"
          "print(s.effective_segments(np.zeros(7)),\n"
          "      s.effective_segments(np.array([0.0, 60.0, 0.0])),\n"
          "      s.effective_segments(np.array([50.0, 50.0, 0.0])))")
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=os.path.join(REPO, "benchmarks"))
  assert result.returncode == 0, result.stderr[-3000:]
  # Uniform over 7 segments; one segment far above the rest; two equal ones far above.
  np.testing.assert_allclose([float(x) for x in result.stdout.split()], [7.0, 1.0, 2.0],
                             rtol=1e-6)
