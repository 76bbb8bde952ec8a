r"""`python -m assg_tf.train`: trains ASSG end to end, evaluates it on the test split, and
exports it (docs/DESIGN.md "Commands").

    python -m assg_tf.train --flagfile=configs/thumos.flags --manual_dir=DATA --model_dir=OUT

1. Data: the train, held-out validation and test splits of the tfds `wtal` builder. A real
   benchmark's folder of RGB features alone (no `flow/` folders, e.g. from
   `python -m assg_tf.extract_features`) is its `_rgb` dataset, which trains `--streams=rgb`
   only (`input_pipeline.resolve_dataset`; docs/DESIGN.md "RGB-only data").
2. For each stream (rgb, flow; paper 3.5 trains them separately): the CAS seed network
   (paper 3.2.1); the initial seeds of every training video (with `--joint_seeds`, the
   default, one set for both streams, `seeds.join_streams`); for each stream the SSG and/or
   ASSG network (Algorithm 1). Each stage checkpoints and resumes.
3. Every variant (cas, ssg, assg) gets its post-processing (stream weight, proposal score) chosen
   on the held-out training videos (`selection.py`; the exported variant's choice is written to
   `OUT/selected.flags`), then is evaluated once on the test split:
   `OUT/predictions/<variant>.json` and `OUT/metrics.json`. Nothing is chosen by test mAP:
   training runs the configured number of steps; only the held-out training videos are used for
   validation curves and the post-processing choice.
4. The trained networks are saved as `.keras` files, and the assg variant (else the last one
   trained) is exported as a SavedModel for TF Serving.

Steps 2 and 3 are `stages.train_and_evaluate`; the files of OUT are those of `run_dir.py`.
Re-running with the same --model_dir resumes from the last checkpoint of the unfinished stage,
and ends with exactly the weights and metrics of an uninterrupted run when both are
bit-reproducible (`--deterministic`, below). Ctrl-C stops with one line, keeping the
checkpoints. Bad flags, dataset names and feature folders are refused with one line before
anything is written; `--help` lists the flags.

`--deterministic` makes runs bit-reproducible: TensorFlow runs one op at a time on one thread.
Without it the ASSG stages differ from run to run in the last bits of their class gradients
(measured: 3 of 20 evaluations of one step), which growing's and erasing's thresholds turn
into different training paths: the same command gave ASSG 60.3 to 64.2 average mAP
(docs/RESULTS.md §3.1). With it, two runs wrote identical checkpoints; an ASSG step takes
2.3x as long on 2 cores.
"""
from __future__ import annotations

import dataclasses
import os
import signal

import tensorflow as tf
from absl import app
from absl import flags
from absl import logging

from assg_tf import distribute
from assg_tf import evaluation
from assg_tf import flags as assg_flags
from assg_tf import input_pipeline
from assg_tf import run_dir
from assg_tf import seeds as seeds_lib
from assg_tf import serving
from assg_tf import stages
from assg_tf import training

FLAGS = flags.FLAGS


def define_flags() -> None:
  assg_flags.define_flags()
  for name in assg_flags.FLAG_TABLE:  # --help lists them (they are defined in assg_tf.flags)
    flags.declare_key_flag(name)
  flags.DEFINE_bool("deterministic", False,
                    "Bit-reproducible runs: TensorFlow runs one op at a time on one thread "
                    "(an ASSG step takes 2.3x as long on 2 cores).")


def set_threads(deterministic: bool) -> None:
  """One intra-op and one inter-op thread when `deterministic` (before TensorFlow starts)."""
  if deterministic:
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  set_threads(FLAGS.deterministic)
  # Everything that can be checked is, before anything is written to model_dir.
  cfg = assg_flags.config_from_flags(FLAGS)
  data_cfg = input_pipeline.resolve_dataset(cfg.data, cfg.streams)
  if data_cfg.dataset != cfg.data.dataset:
    logging.info("%s holds RGB features only: dataset %s", cfg.data.manual_dir, data_cfg.dataset)
  cfg = dataclasses.replace(cfg, data=data_cfg)
  strategy = distribute.create_strategy()

  # 1. Data.
  train, info = input_pipeline.load_split(cfg.data, cfg.data.train_split)
  validation, _ = input_pipeline.load_split(cfg.data, cfg.data.validation_split)
  test, _ = input_pipeline.load_split(cfg.data, cfg.data.test_split)
  for stream in cfg.streams if cfg.cas.seeds_file else ():  # the user's seeds files
    seeds_lib.load_seeds(cfg.cas.seeds_file.format(stream=stream), info.channels)
  os.makedirs(cfg.model_dir, exist_ok=True)
  logging.info("%d replica(s); model_dir %s", strategy.num_replicas_in_sync, cfg.model_dir)

  # 2-3. Seeds, SSG / ASSG and evaluation.
  signal.signal(signal.SIGINT, training.interrupt_handler)  # Ctrl-C is never lost
  try:
    nets, metrics = stages.train_and_evaluate(cfg, strategy, train, validation, test, info)
  except KeyboardInterrupt:  # Ctrl-C: every checkpoint written so far is complete
    raise SystemExit(f"interrupted; the checkpoints in {cfg.model_dir} are kept: run the same "
                     "command again to resume") from None
  except training.CorruptCheckpointError as e:
    raise SystemExit(f"error: {e}") from None
  if metrics is None:  # a non-chief worker of a multi-worker run: the chief reports
    return
  print(f"\n{cfg.data.dataset} {cfg.data.test_split}: mAP (%) per tIoU\n"
        + evaluation.format_variants_table(metrics))

  # 4. Export for TF Serving, with the post-processing chosen on the validation split.
  exported = stages.exported_variant(cfg)
  cfg = dataclasses.replace(cfg, predict=dataclasses.replace(
      cfg.predict, **metrics[exported]["predict"]))
  path = serving.export_saved_model(nets[exported], info, cfg, run_dir.export_dir(cfg.model_dir),
                                    score_nets=nets.get("cas"))
  print(f"exported {exported} to {path}")


if __name__ == "__main__":
  assg_flags.run_command(main, define_flags)
