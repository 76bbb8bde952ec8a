r"""CAS vs CAS+SSG vs ASSG on the synthetic regimes (paper Table 2), with diagnostics.

    python benchmarks/synthetic_benchmark.py --spec=synthetic --seeds=0,1,2 \
        [--flagfile=configs/synthetic.flags] [--cas_steps=N --assg_steps=N ...] \
        [--output=results.json]

Each seed generates the synthetic dataset with that seed (features, and layouts of the random
regime) and trains the CAS network, SSG and ASSG on both streams from scratch
(`stages.train_and_evaluate` on in-memory splits: no tfds preparation). Test-split mAP per tIoU
is printed per seed and as mean ± standard deviation over seeds. Nothing is tuned on it.

Because synthetic videos come with their hidden structure (instances, discriminative cores,
shots), the script also measures *why* ASSG does or does not help, on the training videos:
* seed quality: the share of foreground seeds inside a true instance of their class, the share
  of background seeds outside every instance, and the share of instance snippets that are seeds;
* growth: the share of instance snippets (core and non-core apart) that the grown labels of the
  trained SSG / ASSG network mark as their class, and as background.
"""
from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time

import numpy as np
from absl import flags, logging

from assg_tf import diagnostics, distribute, evaluation, run_dir, stages, synthetic
from assg_tf import flags as assg_flags

flags.DEFINE_string("spec", "synthetic", "Synthetic spec: synthetic, synthetic_thumos, "
                    "synthetic_anet.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Dataset and training seeds.")
flags.DEFINE_string("output", None, "Write all results as JSON here.")
flags.DEFINE_string("workdir", None, "Model dirs go here (default: a temporary folder).")
flags.DEFINE_integer("num_train_videos", None, "Override the spec's training videos (random "
                     "layout only; for smoke tests).")
flags.DEFINE_integer("num_test_videos", None, "Override the spec's test videos.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  base = assg_flags.config_from_flags(FLAGS)
  base = dataclasses.replace(base, variants=("cas", "ssg", "assg"))
  workdir = FLAGS.workdir or tempfile.mkdtemp(prefix="assg_bench_")
  strategy = distribute.create_strategy()
  runs = []
  for seed in [int(s) for s in FLAGS.seeds]:
    spec = dataclasses.replace(synthetic.SPECS[FLAGS.spec], seed=seed)
    for name in ("num_train_videos", "num_test_videos"):
      if FLAGS[name].value is not None:
        spec = dataclasses.replace(spec, **{name: FLAGS[name].value})
    cfg = dataclasses.replace(base, model_dir=os.path.join(workdir, f"{FLAGS.spec}_{seed}"),
                              data=dataclasses.replace(base.data, seed=seed))
    train, _, test, info = diagnostics.in_memory_splits(spec)
    t0 = time.time()
    nets, metrics = stages.train_and_evaluate(cfg, strategy, train, None, test, info)
    metrics["seconds"] = time.time() - t0
    metrics["diagnostics"] = diagnostics.seeds_and_growth(
        spec, cfg, nets, cfg.model_dir)
    runs.append(metrics)
    print(f"\n{FLAGS.spec} seed {seed} ({metrics['seconds']:.0f} s)\n"
          + evaluation.format_variants_table(metrics), flush=True)
    print(json.dumps(metrics["diagnostics"], indent=1), flush=True)

  summary = {"spec": FLAGS.spec, "seeds": [int(s) for s in FLAGS.seeds],
             "tiou_thresholds": list(base.eval.tiou_thresholds), "runs": runs}
  print(f"\n{FLAGS.spec}: mean ± std over {len(runs)} seed(s), mAP (%)")
  for variant in ("cas", "ssg", "assg"):
    per_tiou = np.array([r[variant]["mAP"] for r in runs]) * 100
    avg = np.array([r[variant]["average_mAP"] for r in runs]) * 100
    summary[variant] = {"mAP_mean": per_tiou.mean(0).tolist(),
                        "mAP_std": per_tiou.std(0).tolist(),
                        "average_mAP_mean": float(avg.mean()),
                        "average_mAP_std": float(avg.std())}
    cells = "  ".join(f"{m:5.1f}±{s:3.1f}" for m, s in zip(per_tiou.mean(0), per_tiou.std(0)))
    print(f"{variant:>5}  {cells}  avg {avg.mean():5.1f}±{avg.std():3.1f}")
  if FLAGS.output:
    run_dir.write_json(FLAGS.output, summary)


if __name__ == "__main__":
  assg_flags.run_command(main, assg_flags.define_flags)
