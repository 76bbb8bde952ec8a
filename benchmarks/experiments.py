r"""The paper's experiments (section 4.3) on a synthetic regime: one command each, JSON + PNG.

    python benchmarks/experiments.py --flagfile=benchmarks/regimes/thumos.flags \
        --experiment=table2 --seeds=0,1,2 --output_dir=docs/results

Experiments (`--experiment`):
* `table2`    CAS vs CAS+SSG vs ASSG (paper Table 2), each with the paper's method
              (`assg_tf.config.PAPER`, `configs/*_paper.flags`) and with ours (the defaults);
* `table1`    ASSG with SAP (eq. 3's energy the sum or the mean), GAP, GMP or top-k MIL pooling
              in the classifier (paper Table 1, plus our top-k), ours;
* `figure4`   sweeps of theta_g for the actions (theta_gb = 0.99) and for the background
              (theta_gf = 0.99), 0.8 to 0.95 by 0.05, and of theta_a, 0.3 to 0.7 by 0.1
              (paper Figure 4, 4.3.1), ours otherwise;
* `providers` the STPN-style CAS network of the paper (per snippet, min-max seeds) and our
              calibrated MIL network as seed providers, each alone and with ASSG (ours);
* `background` ASSG (ours) with theta_gb = 1: background never grows beyond its seeds;
* `default`   the default config's two rows, CAS and ASSG (ours): e.g. a schedule
              (`--cas_steps`, `--assg_steps`) checked on the regimes;
* `bgseeds`   ASSG (ours) with each stream's own seeds or the streams' joined seeds
              (`--joint_seeds`), background seeds by the 0.1 threshold alone or also bounded by
              the video's absent classes (`--bg_seed_null_quantile` 1 or 0.9); the last row is
              the default;
* `fgseeds`   ASSG (ours) with foreground seeds at the CAS probability 0.9, 0.8, 0.7, 0.6 and
              0.5 (the default; docs/RESULTS.md section 1.4 chose it on the validation split:
              each row's JSON keeps its validation table beside the test metrics);
* `all`       all eight (they share the trained networks); a comma-separated list runs those.
Each writes `<output_dir>/<experiment>_<regime>.json` (every seed's metrics and the mean and
standard deviation over seeds) and `<experiment>_<regime>.png`, and prints a table.

Everything else is the flags of `assg_tf.train` (the regime flagfiles in `benchmarks/regimes/`
set the scale and schedule; the method is the defaults, or the paper's for `paper` rows) plus
`--spec` / `--feature_dim`, the synthetic dataset. Each seed generates the dataset with that
seed, then trains every network from scratch with Keras' generator seeded by it before every
stage, so all variants of one seed start from the same initial weights and see the same
batches: differences between rows of one seed come from the variant alone.

Splits are those of the tfds builder: the training videos minus the held-out validation ones
(`in_validation`) train; the validation videos choose each row's post-processing when its
method does (`selection.py`, ours); the test videos are evaluated once per row. Nothing is
selected by test mAP.

Trained networks and metrics are cached in `--workdir` under a hash of their settings, so
`all`, or a rerun after an interruption, trains nothing twice. Delete the folder to start over.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from typing import Dict, List

import keras
import numpy as np
from absl import app, flags, logging

from assg_tf import config as config_lib
from assg_tf import diagnostics, distribute, inference, run_dir, selection, stages, synthetic
from assg_tf import flags as assg_flags
from assg_tf import seeds as seeds_lib

EXPERIMENTS = ("table2", "providers", "table1", "figure4", "background",
               "bgseeds", "fgseeds", "default")  # `all`: this order
flags.DEFINE_list("experiment", ["table2"], "Which experiments, in order: any of "
                  f"{', '.join(EXPERIMENTS)}, or all.")
flags.DEFINE_string("spec", "synthetic", "Synthetic spec: synthetic, synthetic_thumos, "
                    "synthetic_anet.")
flags.DEFINE_integer("feature_dim", None, "Override the spec's feature width per stream.")
flags.DEFINE_integer("num_train_videos", None, "Override the spec's training videos.")
flags.DEFINE_integer("num_test_videos", None, "Override the spec's test videos.")
flags.DEFINE_string("regime", None, "Name of the regime in output file names (default: the "
                    "spec).")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Dataset and training seeds.")
flags.DEFINE_string("output_dir", "experiment_results", "JSON and PNG go here.")
flags.DEFINE_string("workdir", "/tmp/assg_experiments", "Trained networks and metrics cache.")
FLAGS = flags.FLAGS

# Every row is evaluated once, on the test split, with its method's post-processing.
EVALUATIONS = ("test",)
THETA_G = (0.8, 0.85, 0.9, 0.95, 0.99)  # paper 4.3.1: 0.8 to 0.95 by 0.05, and the default
THETA_A = (0.3, 0.4, 0.5, 0.6, 0.7)  # paper 4.3.1
FG_SEED_THRESHOLDS = (0.9, 0.8, 0.7, 0.6, 0.5)  # CASConfig.fg_seed_threshold, on probabilities


@dataclasses.dataclass(frozen=True)
class Row:
  """One line of an experiment: a variant trained with some settings changed."""
  name: str
  variant: str  # cas | ssg | assg
  preset: str = "ours"  # "ours" (the defaults) or "paper" (config.paper_preset)
  cas: Dict = dataclasses.field(default_factory=dict)  # CASConfig changes (the provider)
  model: Dict = dataclasses.field(default_factory=dict)  # ModelConfig changes


def rows(experiment: str) -> List[Row]:
  if experiment == "table2":
    return [Row(f"{name} ({preset})", variant, preset)
            for preset in ("ours", "paper")
            for variant, name in (("cas", "CAS"), ("ssg", "CAS+SSG"), ("assg", "ASSG"))]
  if experiment == "table1":
    return [Row(f"ASSG, {p.upper()}", "assg", model={"pooling": p})
            for p in config_lib.POOLINGS]
  if experiment == "figure4":
    return ([Row(f"theta_gf={t:g}", "assg", model={"growing_threshold_fg": t,
                                                   "growing_threshold_bg": 0.99})
             for t in THETA_G] +
            [Row(f"theta_gb={t:g}", "assg", model={"growing_threshold_fg": 0.99,
                                                   "growing_threshold_bg": t})
             for t in THETA_G] +
            [Row(f"theta_a={t:g}", "assg", model={"erasing_threshold": t}) for t in THETA_A])
  if experiment == "background":
    return [Row("ASSG, theta_gb=1", "assg", model={"growing_threshold_bg": 1.0})]
  if experiment == "default":
    return [Row("CAS (ours)", "cas"), Row("ASSG (ours)", "assg")]
  if experiment == "bgseeds":
    return [Row(f"ASSG, {name}", "assg", cas=cas) for name, cas in (
        ("own seeds, threshold alone", {"joint_seeds": False, "bg_seed_null_quantile": 1.0}),
        ("own seeds, absent-class level", {"joint_seeds": False}),
        ("joint seeds, threshold alone", {"bg_seed_null_quantile": 1.0}),
        ("joint seeds, absent-class level", {}))]
  if experiment == "fgseeds":
    return [Row(f"ASSG, fg seeds > {t:g}", "assg", cas={"fg_seed_threshold": t})
            for t in FG_SEED_THRESHOLDS]
  if experiment == "providers":
    return [Row(f"{name}-CAS{suffix}", variant, cas=cas)
            for name, cas in (("STPN", config_lib.PAPER["cas"]), ("MIL", {}))
            for variant, suffix in (("cas", ""), ("assg", " w/ ASSG"))]
  raise ValueError(f"unknown experiment {experiment!r}: expected one of {EXPERIMENTS}")


def _digest(*parts) -> str:
  text = json.dumps([p if isinstance(p, dict) else dataclasses.asdict(p) for p in parts],
                    sort_keys=True, default=str)
  return hashlib.sha1(text.encode()).hexdigest()[:10]


# CASConfig fields that only turn a trained CAS network into seeds or maps: rows that differ only
# in these share one trained network (any other field, including one added later, retrains it).
SEED_RULE_FIELDS = ("maps", "fg_seed_threshold", "bg_seed_rule", "bg_seed_threshold",
                    "bg_seed_null_quantile", "bg_seed_margin", "joint_seeds", "bg_seed_fraction",
                    "shot_change_ratio", "seeds_file")


def _split_cas(cas: config_lib.CASConfig):
  """(the fields that train the CAS network, the fields that make seeds of it) as dicts."""
  fields = dataclasses.asdict(cas)
  rule = {k: fields.pop(k) for k in SEED_RULE_FIELDS}
  return fields, rule


class Runner:
  """Trains (or reloads) and evaluates the rows of one seed, caching everything it can."""

  def __init__(self, base: config_lib.Config, spec, workdir: str, strategy):
    self.base, self.spec, self.strategy = base, spec, strategy
    self.seed = base.data.seed
    self.train, self.validation, self.test, self.info = diagnostics.in_memory_splits(spec)
    self.workdir = os.path.join(workdir, f"{spec.name}_d{spec.feature_dim}_"
                                f"{_digest(spec)}", f"seed{self.seed}")
    self.cas_nets = {}  # CAS networks' dir -> {stream: CASNet}
    # CAS networks' dir -> seconds to train (or reload) them; seeds dir -> that plus its seeds
    self.cas_seconds = {}

  def _stage_seed(self):
    # Every stage starts from the seed's generator state, whatever ran (or was cached) before.
    keras.utils.set_random_seed(self.seed)

  def provider(self, row: Row):
    """(config, {stream: CAS network}) of the row's seed provider, trained or reloaded."""
    cfg = config_lib.paper_preset(self.base) if row.preset == "paper" else self.base
    cfg = dataclasses.replace(cfg, cas=dataclasses.replace(cfg.cas, **row.cas))
    training, rule = _split_cas(cfg.cas)
    nets_dir = os.path.join(self.workdir, f"cas-{_digest(cfg.data, training)}")
    model_dir = os.path.join(nets_dir, f"seeds-{_digest(rule)}")  # the seeds; the rows
    if nets_dir not in self.cas_nets:
      t0, nets = time.time(), {}
      for stream in cfg.streams:
        self._stage_seed()
        nets[stream] = stages.train_cas(dataclasses.replace(cfg, model_dir=nets_dir),
                                        self.strategy, self.info, self.train, stream)
      self.cas_nets[nets_dir] = nets
      self.cas_seconds[nets_dir] = time.time() - t0
    cfg = dataclasses.replace(cfg, model_dir=model_dir)
    if model_dir not in self.cas_seconds:
      t0 = time.time()
      stages.load_or_compute_seeds(cfg, self.cas_nets[nets_dir], self.train, self.info)
      self.cas_seconds[model_dir] = self.cas_seconds[nets_dir] + time.time() - t0
    return cfg, self.cas_nets[nets_dir]

  def _row_dirs(self, row: Row):
    """(the row's config with its model_dir, the provider's dir, {stream: CAS network})."""
    cfg, cas_nets = self.provider(row)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, **row.model))
    provider_dir = cfg.model_dir  # the row's seeds: run_dir.seeds_path(provider_dir, stream)
    if row.variant != "cas":
      cfg = dataclasses.replace(cfg, model_dir=os.path.join(
          cfg.model_dir, f"{row.variant}-{_digest(cfg.data, cfg.model, cfg.train)}"))
    return cfg, provider_dir, cas_nets

  def networks(self, row: Row):
    """(the row's config, {stream: its trained network}), trained or reloaded."""
    cfg, provider_dir, cas_nets = self._row_dirs(row)
    if row.variant == "cas":  # trained by provider()
      return cfg, cas_nets
    nets = {}
    for stream in cfg.streams:
      seeds = seeds_lib.load_seeds(run_dir.seeds_path(provider_dir, stream), self.info.channels)
      self._stage_seed()
      nets[stream] = stages.train_assg(cfg, self.strategy, self.info, self.train, seeds,
                                       stream, row.variant)
    return cfg, nets

  def run(self, row: Row) -> Dict:
    """{"test": metrics, "predict": the post-processing used, "seconds": training time,
    ["own_classification_mAP", "diagnostics"]}."""
    cfg, provider_dir, cas_nets = self._row_dirs(row)
    done = os.path.join(cfg.model_dir, "metrics", f"{row.variant}.json")
    if os.path.exists(done):
      with open(done) as f:
        return json.load(f)
    t0 = time.time()
    cfg, nets = self.networks(row)
    # Training time of the row's own networks (the CAS row: the provider and its seeds).
    result = {"seconds": (time.time() - t0 if row.variant != "cas"
                          else self.cas_seconds[cfg.model_dir])}
    predict = cfg.predict
    if row.variant == "ssg":  # SSG trains no classifier: CAS+SSG takes the CAS's classes
      predict = dataclasses.replace(predict, video_scores="cas")
    make = lambda pc: inference.Predictor(nets, self.info, pc, score_nets=cas_nets)
    result["validation"] = []
    has_validation = next(iter(self.validation), None) is not None
    if predict.select_on_validation and has_validation:  # as train.py: held-out videos
      predict, result["validation"] = stages.select_on_validation(
          make(predict), self.validation, self.info.class_names, cfg)
    result["predict"] = {k: getattr(predict, k) for k in selection.GRID}
    result["test"] = stages.evaluate_predictor(make(predict), self.test,
                                                  self.info.class_names, "test", cfg)
    if row.variant == "assg":  # the adversarial classifier's own video scores
      own = dataclasses.replace(predict, video_scores="own")
      result["own_classification_mAP"] = stages.evaluate_predictor(
          make(own), self.test, self.info.class_names, "test", cfg)["classification_mAP"]
    if row.variant != "cas":
      result["diagnostics"] = diagnostics.seeds_and_growth(
          self.spec, cfg, {row.variant: nets}, provider_dir)
    run_dir.write_json(done, result)
    print(f"  seed {self.seed} {row.name}: trained in {result['seconds']:.0f} s, test avg mAP "
          f"{100 * result['test']['average_mAP']:.1f}", flush=True)
    return result


def summarize(per_seed: List[Dict]) -> Dict:
  """Mean and standard deviation over seeds of mAP per tIoU and the averages, in %."""
  out = {}
  for name in EVALUATIONS:
    per_tiou = np.array([r[name]["mAP"] for r in per_seed]) * 100
    entry = {"mAP_mean": per_tiou.mean(0).tolist(), "mAP_std": per_tiou.std(0).tolist()}
    for key in ("average_mAP", "average_mAP_0.1_0.5", "classification_mAP"):
      values = np.array([r[name][key] for r in per_seed]) * 100
      entry[f"{key}_mean"], entry[f"{key}_std"] = float(values.mean()), float(values.std())
    out[name] = entry
  return out


def format_table(result: Dict) -> str:
  thresholds = result["tiou_thresholds"]
  lines = []
  for name in EVALUATIONS:
    lines.append(f"\n{result['experiment']} on {result['regime']}, {name} split, mAP (%) "
                 f"mean±std over seeds {result['seeds']}")
    lines.append("| row | " + " | ".join(f"{t:g}" for t in thresholds)
                 + " | avg 0.1:0.5 | avg 0.1:0.7 | cls-mAP |")
    lines.append("|---" * (len(thresholds) + 4) + "|")
    for row in result["rows"]:
      s = row["summary"][name]
      cells = [f"{m:.1f}±{d:.1f}" for m, d in zip(s["mAP_mean"], s["mAP_std"])]
      cells += [f"{s[k + '_mean']:.1f}±{s[k + '_std']:.1f}"
                for k in ("average_mAP_0.1_0.5", "average_mAP", "classification_mAP")]
      lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


DIAGNOSTICS = ("fg_seed_precision", "instance_seeded", "bg_seed_precision", "bg_seed_coverage",
               "core_grown_fg", "noncore_grown_fg", "core_grown_bg", "noncore_grown_bg",
               "grown_fg_precision", "grown_bg_precision", "erased_core", "erased_noncore",
               "erased_outside", "noncore_heat")


def format_diagnostics(result: Dict) -> str:
  """Seeds and growth on the training videos (assg_tf.diagnostics), mean over seeds, in %."""
  lines = [f"\n{result['experiment']} on {result['regime']}: seeds and growth on the training "
           "videos, % (mean over seeds), flow / rgb",
           "| row | " + " | ".join(DIAGNOSTICS) + " | classifier cls-mAP |",
           "|---" * (len(DIAGNOSTICS) + 2) + "|"]
  for row in result["rows"]:
    runs = [r["diagnostics"] for r in row["per_seed"] if "diagnostics" in r]
    if not runs:
      continue
    cells = []
    for key in DIAGNOSTICS:
      per_stream = []
      for stream in ("flow", "rgb"):
        values = [d[stream][key] if key in d[stream] else d[stream][row["variant"]][key]
                  for d in runs if stream in d]
        per_stream.append(f"{100 * np.mean(values):.0f}" if values else "-")
      cells.append(" / ".join(per_stream))
    own = [r["own_classification_mAP"] for r in row["per_seed"]
           if "own_classification_mAP" in r]
    cells.append(f"{100 * np.mean(own):.0f}" if own else "-")
    lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def plot(result: Dict, path: str) -> None:
  """Figure 4 style (average mAP against the threshold) for figure4, else mAP against tIoU."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  rows_ = result["rows"]
  if result["experiment"] == "figure4":
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    groups = [(axes[0], "theta_gf", "theta_g (a)"), (axes[0], "theta_gb", "theta_g (a)"),
              (axes[1], "theta_a", "theta_a (b)")]
    for ax, prefix, xlabel in groups:
      chosen = [r for r in rows_ if r["name"].startswith(prefix + "=")]
      x = [float(r["name"].split("=")[1]) for r in chosen]
      y = [r["summary"]["test"]["average_mAP_mean"] for r in chosen]
      err = [r["summary"]["test"]["average_mAP_std"] for r in chosen]
      ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=prefix)
      ax.set_xlabel(xlabel)
      ax.set_ylabel("average mAP 0.1:0.7 (%)")
      ax.legend(fontsize=8)
  else:
    fig, ax = plt.subplots(1, 1, figsize=(6, 4))
    for row in rows_:
      s = row["summary"]["test"]
      ax.errorbar(result["tiou_thresholds"], s["mAP_mean"], yerr=s["mAP_std"], marker="o",
                  capsize=3, linestyle="--" if row.get("preset") == "paper" else "-",
                  label=f"{row['name']} ({s['average_mAP_mean']:.1f})")
    ax.set_xlabel("tIoU threshold")
    ax.set_ylabel("mAP (%)")
    ax.legend(fontsize=7, title="row (avg mAP)", title_fontsize=7)
  fig.suptitle(f"{result['experiment']}: {result['regime']}, mean ± std over seeds "
               f"{result['seeds']}")
  fig.tight_layout()
  tmp = path + ".tmp.png"
  fig.savefig(tmp, dpi=100)
  plt.close(fig)
  os.replace(tmp, path)


def run_experiment(experiment: str, runners: List[Runner], regime: str,
                   base: config_lib.Config) -> Dict:
  result = {"experiment": experiment, "regime": regime,
            "seeds": [r.seed for r in runners],
            "tiou_thresholds": list(base.eval.tiou_thresholds),
            "evaluations": EVALUATIONS, "config": dataclasses.asdict(base), "rows": []}
  for row in rows(experiment):
    per_seed = [dict(runner.run(row), seed=runner.seed) for runner in runners]
    result["rows"].append({**dataclasses.asdict(row), "per_seed": per_seed,
                           "summary": summarize(per_seed)})
  return result


def runners_from_flags(strategy, seeds: List[int]) -> List[Runner]:
  """One Runner per seed: the synthetic spec of --spec with the flags' overrides, and the
  config of the assg_tf flags, both with that seed (also used by detection_lengths.py)."""
  base = assg_flags.config_from_flags(FLAGS)
  spec = synthetic.SPECS[FLAGS.spec]
  for name in ("feature_dim", "num_train_videos", "num_test_videos"):
    if FLAGS[name].value is not None:
      spec = dataclasses.replace(spec, **{name: FLAGS[name].value})
  runners = []
  for seed in seeds:
    cfg = dataclasses.replace(base, data=dataclasses.replace(base.data, seed=seed))
    runners.append(Runner(cfg, dataclasses.replace(spec, seed=seed), FLAGS.workdir, strategy))
  return runners


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  base = assg_flags.config_from_flags(FLAGS)
  regime = FLAGS.regime or FLAGS.spec
  experiments = EXPERIMENTS if FLAGS.experiment == ["all"] else FLAGS.experiment
  for experiment in experiments:
    if experiment not in EXPERIMENTS:
      raise ValueError(f"--experiment={experiment!r}: expected {', '.join(EXPERIMENTS)} or all")
  runners = runners_from_flags(distribute.create_strategy(), [int(s) for s in FLAGS.seeds])
  os.makedirs(FLAGS.output_dir, exist_ok=True)
  for experiment in experiments:
    t0 = time.time()
    result = run_experiment(experiment, runners, regime, base)
    result["wall_seconds"] = time.time() - t0
    stem = os.path.join(FLAGS.output_dir, f"{experiment}_{regime}")
    run_dir.write_json(stem + ".json", result)
    plot(result, stem + ".png")
    print(format_table(result), flush=True)
    print(format_diagnostics(result), flush=True)
    print(f"wrote {stem}.json and {stem}.png ({result['wall_seconds']:.0f} s)", flush=True)


if __name__ == "__main__":
  assg_flags.define_flags()
  app.run(assg_flags.with_clear_errors(main))
