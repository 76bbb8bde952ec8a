r"""CAS vs CAS+SSG vs ASSG on the synthetic regimes (paper Table 2), with diagnostics.

    python benchmarks/synthetic_benchmark.py --spec=synthetic --seeds=0,1,2 \
        [--flagfile=configs/synthetic.flags] [--cas_steps=N --assg_steps=N ...] \
        [--output=results.json]

Each seed generates the synthetic dataset with that seed (features, and layouts of the random
regime) and trains the CAS network, SSG and ASSG on both streams from scratch
(`train.train_and_evaluate` on in-memory splits: no tfds preparation). Test-split mAP per tIoU
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
import tensorflow as tf
from absl import app, flags, logging

from assg_tf import distribute, evaluation, growing, input_pipeline, synthetic
from assg_tf import flags as assg_flags
from assg_tf import seeds as seeds_lib
from assg_tf import train as train_lib

flags.DEFINE_string("spec", "synthetic", "Synthetic spec: synthetic, synthetic_thumos, "
                    "synthetic_anet.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Dataset and training seeds.")
flags.DEFINE_string("output", None, "Write all results as JSON here.")
flags.DEFINE_string("workdir", None, "Model dirs go here (default: a temporary folder).")
flags.DEFINE_integer("num_train_videos", None, "Override the spec's training videos (random "
                     "layout only; for smoke tests).")
flags.DEFINE_integer("num_test_videos", None, "Override the spec's test videos.")
FLAGS = flags.FLAGS


def _splits(spec):
  num_classes, dim = spec.num_classes, spec.feature_dim
  train = list(synthetic.generate_split(spec, "train"))
  test = list(synthetic.generate_split(spec, "test"))
  make = lambda videos: input_pipeline.from_examples(lambda: videos, num_classes, dim,
                                                     dim).cache()
  info = input_pipeline.DatasetInfo(tuple(synthetic.class_names(spec)), dim, dim, len(train))
  return make(train), make(test), info


def _truth(spec, split):
  """Per training video: instance label map [T, C] and core map [T, C] from the structure."""
  out = {}
  for layout in synthetic.video_layouts(spec, split):
    example, s = synthetic.generate_video(spec, layout)
    length, num_classes = example["num_segments"], spec.num_classes
    inside = np.zeros([length, num_classes], bool)
    core = np.zeros([length, num_classes], bool)
    for k, label in enumerate(layout.segment_labels):
      inside[s.instance_start[k]:s.instance_end[k], label] = True
      core[s.core_start[k]:s.core_end[k], label] = True
    out[layout.video_id] = (example, inside, core)
  return out


def _diagnostics(spec, cfg, nets, model_dir):
  truth = _truth(spec, "train")
  dim = spec.feature_dim
  result = {}
  for stream, (lo, hi) in (("rgb", (0, dim)), ("flow", (dim, 2 * dim))):
    path = os.path.join(model_dir, "seeds", f"{stream}.npz")
    if not os.path.exists(path):
      continue
    seeds = seeds_lib.load_seeds(path, spec.num_classes + 1)
    fg_in = fg_all = bg_out = bg_all = seeded = total = 0
    grown_stats = {v: np.zeros(4) for v in ("ssg", "assg") if v in nets}
    core_total = weak_total = 0
    for video, (example, inside, core) in truth.items():
      dense = np.zeros([len(inside), spec.num_classes + 1])
      coords = seeds[video]
      dense[coords[:, 0], coords[:, 1]] = 1
      fg, bg = dense[:, 1:] > 0, dense[:, 0] > 0
      fg_in += (fg & inside).sum()
      fg_all += fg.sum()
      any_inside = inside.any(1)
      bg_out += (bg & ~any_inside).sum()
      bg_all += bg.sum()
      seeded += (fg & inside).sum()
      total += inside.sum()
      weak = inside & ~core
      core_total += core.sum()
      weak_total += weak.sum()
      x = np.concatenate([example["rgb"], example["flow"]], -1)[None, :, lo:hi]
      for variant in grown_stats:
        out = nets[variant][stream](tf.constant(x))
        grown = growing.grow(out["heatmaps"], tf.constant(dense[None], tf.float32),
                             tf.ones([1, len(inside)]), tf.constant(example["labels"][None]),
                             tf.constant(cfg.model.growing_threshold_fg),
                             tf.constant(cfg.model.growing_threshold_bg)).numpy()[0]
        g_fg, g_bg = grown[:, 1:] > 0, grown[:, :1] > 0
        grown_stats[variant] += [(g_fg & core).sum(), (g_fg & weak).sum(),
                                 (g_bg & core).sum(), (g_bg & weak).sum()]
    entry = {
        "fg_seed_precision": float(fg_in / max(fg_all, 1)),
        "bg_seed_precision": float(bg_out / max(bg_all, 1)),
        "instance_seeded": float(seeded / max(total, 1)),
    }
    for variant, (fc, fw, bc, bw) in grown_stats.items():
      entry[variant] = {"core_grown_fg": fc / max(core_total, 1),
                        "noncore_grown_fg": fw / max(weak_total, 1),
                        "core_grown_bg": bc / max(core_total, 1),
                        "noncore_grown_bg": bw / max(weak_total, 1)}
    result[stream] = entry
  return result


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
    train, test, info = _splits(spec)
    t0 = time.time()
    nets, metrics = train_lib.train_and_evaluate(cfg, strategy, train, None, test, info)
    metrics["seconds"] = time.time() - t0
    metrics["diagnostics"] = _diagnostics(spec, cfg, nets, cfg.model_dir)
    runs.append(metrics)
    print(f"\n{FLAGS.spec} seed {seed} ({metrics['seconds']:.0f} s)\n"
          + train_lib.format_table(metrics), flush=True)
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
    evaluation.write_json(FLAGS.output, summary)


if __name__ == "__main__":
  assg_flags.define_flags()
  app.run(main)
