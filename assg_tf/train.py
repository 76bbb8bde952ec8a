r"""Trains ASSG end to end, evaluates it on the test split, and exports it (SPEC section 5).

    python -m assg_tf.train --flagfile=configs/thumos.flags --manual_dir=DATA --model_dir=OUT

1. Data: the train, held-out validation and test splits of the tfds `wtal` builder.
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

Re-running with the same --model_dir resumes from the last checkpoint of the unfinished stage,
and ends with exactly the weights and metrics of an uninterrupted run. Ctrl-C stops with one
line, keeping the checkpoints. Bad flags, dataset names and feature folders are refused with one
line before anything is written; `--help` lists the flags.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Dict

from absl import app
from absl import flags
from absl import logging
import keras

from assg_tf import config as config_lib
from assg_tf import distribute
from assg_tf import evaluation
from assg_tf import flags as assg_flags
from assg_tf import inference
from assg_tf import input_pipeline
from assg_tf import model as model_lib
from assg_tf import seeds as seeds_lib
from assg_tf import selection
from assg_tf import training

FLAGS = flags.FLAGS
assg_flags.define_flags()
for _name in assg_flags.FLAG_TABLE:  # --help lists them (they are defined in assg_tf.flags)
  flags.declare_key_flag(_name)


def evaluate_predictor(predictor: inference.Predictor, examples, class_names, subset: str,
                       cfg: config_lib.Config, predictions_path: str = None) -> Dict:
  """Detection mAP per tIoU, its averages and the classification mAP of one variant."""
  batches = input_pipeline.eval_dataset(examples, cfg.data.batch_size)
  results, scores, labels, _ = predictor.predict_dataset(batches, class_names)
  if predictions_path:
    evaluation.write_predictions(predictions_path, results)
  gt = evaluation.load_ground_truth(
      {"database": input_pipeline.ground_truth_database(examples, class_names, subset)},
      subset=subset, class_names=list(class_names))
  result = evaluation.evaluate_detection(
      gt, evaluation.load_predictions({"results": results}), cfg.eval.tiou_thresholds,
      ignore_ambiguous=cfg.eval.thumos_ambiguous)
  metrics = evaluation.summarize(result)
  del metrics["tiou_thresholds"]
  metrics["classification_mAP"] = evaluation.classification_map(labels, scores)
  return metrics


def format_table(metrics: Dict) -> str:
  thresholds = metrics["tiou_thresholds"]
  variants = [k for k in ("cas", "ssg", "assg") if k in metrics]
  extra = [k for k in ("average_mAP_0.1_0.5", "average_mAP", "classification_mAP")
           if all(k in metrics[v] for v in variants)]
  head = ["tIoU"] + [f"{t:g}" for t in thresholds] + [
      {"average_mAP_0.1_0.5": "avg0.1-0.5", "average_mAP": "avg",
       "classification_mAP": "cls-mAP"}[k] for k in extra]
  rows = [head]
  for v in variants:
    m = metrics[v]
    rows.append([v] + [f"{100 * x:.1f}" for x in m["mAP"]] + [f"{100 * m[k]:.1f}"
                                                             for k in extra])
  widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
  return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows)


def write_run_json(cfg: config_lib.Config, info, seconds_per_segment: float,
                   predict_cfg: config_lib.PredictConfig) -> None:
  """OUT/run.json: what predict/export/visualize need to rebuild the run without the data,
  with the post-processing they should use."""
  run_cfg = dataclasses.replace(cfg, predict=predict_cfg)
  evaluation.write_json(os.path.join(cfg.model_dir, "run.json"), {
      "dataset": cfg.data.dataset, "class_names": list(info.class_names),
      "rgb_dim": info.rgb_dim, "flow_dim": info.flow_dim,
      "seconds_per_segment": seconds_per_segment, "variants": list(cfg.variants),
      "streams": list(cfg.streams), "config": dataclasses.asdict(run_cfg)})


def exported_variant(cfg: config_lib.Config) -> str:
  """The variant exported as the SavedModel: assg, else the last one trained."""
  return "assg" if "assg" in cfg.variants else cfg.variants[-1]


def load_or_compute_seeds(cfg: config_lib.Config, cas_nets, train, info,
                          save: bool = True) -> Dict[str, Dict]:
  """{stream: initial seeds}: the user's files, the stored files of an earlier run, or the CAS
  networks' (joined across the streams with `--joint_seeds`), then stored in
  OUT/seeds/<stream>.npz."""
  channels = len(info.class_names) + 1
  if cfg.cas.seeds_file:
    return {stream: seeds_lib.load_seeds(cfg.cas.seeds_file.format(stream=stream), channels)
            for stream in cfg.streams}
  paths = {stream: os.path.join(cfg.model_dir, "seeds", f"{stream}.npz")
           for stream in cfg.streams}
  if all(os.path.exists(path) for path in paths.values()):
    return {stream: seeds_lib.load_seeds(path, channels) for stream, path in paths.items()}
  seeds = {stream: training.compute_seeds(cas_nets[stream], train, cfg, info, stream)
           for stream in cfg.streams}
  if cfg.cas.joint_seeds and len(seeds) > 1:
    joined = seeds_lib.join_streams(seeds, channels)
    seeds = {stream: joined for stream in seeds}
  for stream, path in paths.items() if save else ():
    seeds_lib.save_seeds(path, seeds[stream], channels)
  return seeds


def train_and_evaluate(cfg: config_lib.Config, strategy, train, validation, test, info):
  """Steps 2 and 3 on given splits (datasets of examples); returns (nets, metrics).

  `nets` maps each variant (and "cas" whenever the seed networks were trained) to its {stream:
  network}; `metrics` is what metrics.json holds
  (None on the non-chief workers of a multi-worker run, which neither write nor evaluate).
  Benchmarks call this directly with in-memory synthetic splits.
  """
  config_lib.validate(cfg)
  # Weight initialisation (Keras' own generator), dropout and TF ops follow the run's seed.
  keras.utils.set_random_seed(cfg.data.seed)
  class_names = info.class_names
  feature_dim = info.rgb_dim + info.flow_dim
  seconds_per_segment = float(next(iter(train))["seconds_per_segment"])
  # Under MultiWorkerMirroredStrategy every worker trains; only the chief writes and evaluates.
  chief = distribute.is_chief(strategy)
  # What predict/export/visualize need to rebuild the run without the data.
  if chief:
    write_run_json(cfg, info, seconds_per_segment, cfg.predict)

  predictors = {}  # one traced forward pass per network, reused at every validation

  def validate(nets):  # mAP of one stream on the held-out training videos
    key = tuple(sorted((stream, id(net)) for stream, net in nets.items()))
    if key not in predictors:
      # Validation of one stream alone: its own class scores (the CAS nets may not exist yet).
      own = dataclasses.replace(cfg.predict, video_scores="own")
      predictors[key] = inference.Predictor(nets, info.rgb_dim, feature_dim, own)
    return evaluate_predictor(predictors[key], validation, class_names, "validation",
                              cfg)["average_mAP"]

  has_validation = validation is not None and next(iter(validation), None) is not None

  # 2. Per stream: the CAS seed network; the initial seeds (of both streams together with
  # --joint_seeds); per stream: the SSG / ASSG network (Algorithm 1).
  nets = {variant: {} for variant in cfg.variants}
  cas_nets = {}  # the seed networks, which also give the class scores (--video_scores=cas)
  needs_cas = ("cas" in cfg.variants or not cfg.cas.seeds_file
               or cfg.predict.video_scores == "cas")
  for stream in cfg.streams if needs_cas else ():
    cas_nets[stream] = training.train_cas(cfg, strategy, info, train, stream,
                                          validate if has_validation else None)
    if chief:  # predict/export need its class scores even when cas is not a variant
      training.save_keras(cas_nets[stream],
                          os.path.join(cfg.model_dir, "models", f"cas_{stream}.keras"))
  variants = model_lib.variants_to_train(cfg.variants)
  seeds = load_or_compute_seeds(cfg, cas_nets, train, info, save=chief) if variants else {}
  for stream in cfg.streams:
    for variant in variants:
      nets[variant][stream] = training.train_assg(cfg, strategy, info, train, seeds[stream],
                                                  stream, variant,
                                                  validate if has_validation else None)
      if chief:
        training.save_keras(nets[variant][stream],
                            os.path.join(cfg.model_dir, "models", f"{variant}_{stream}.keras"))

  if cas_nets:  # returned whenever trained: export needs their class scores
    nets["cas"] = cas_nets

  # 3. Post-processing chosen on the held-out training videos, then evaluation on the test split.
  if not chief:
    return nets, None
  metrics = {"dataset": cfg.data.dataset, "subset": cfg.data.test_split,
             "tiou_thresholds": list(cfg.eval.tiou_thresholds)}
  for variant in cfg.variants:
    make = lambda predict_cfg, v=variant: inference.Predictor(
        nets[v], info.rgb_dim, feature_dim, predict_cfg, score_nets=cas_nets or None)
    predict_cfg = cfg.predict
    if cfg.predict.select_on_validation and has_validation:
      predict_cfg, table = selection.select(
          lambda pc: evaluate_predictor(make(pc), validation, class_names, "validation",
                                        cfg)["average_mAP"], cfg.predict)
      if variant == exported_variant(cfg):
        selection.write_flagfile(selection.chosen_path(cfg.model_dir), predict_cfg, table)
        # predict, export and visualize rebuild the run from run.json: the chosen values.
        write_run_json(cfg, info, seconds_per_segment, predict_cfg)
    metrics[variant] = evaluate_predictor(
        make(predict_cfg), test, class_names, cfg.data.test_split, cfg,
        os.path.join(cfg.model_dir, "predictions", f"{variant}.json"))
    metrics[variant]["predict"] = {k: getattr(predict_cfg, k) for k in selection.GRID}
  evaluation.write_json(os.path.join(cfg.model_dir, "metrics.json"), metrics)
  # The ground truth G of `python -m assg_tf.evaluate --ground_truth=G --subset=<test split>`.
  evaluation.write_json(os.path.join(cfg.model_dir, "ground_truth.json"), {
      "version": f"assg_tf {cfg.data.dataset} {cfg.data.test_split}", "database":
      input_pipeline.ground_truth_database(test, class_names, cfg.data.test_split)})
  return nets, metrics


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  # Everything that can be checked is, before anything is written to model_dir.
  cfg = assg_flags.config_from_flags(FLAGS)
  strategy = distribute.create_strategy()

  # 1. Data.
  train, info = input_pipeline.load_split(cfg.data, cfg.data.train_split)
  validation, _ = input_pipeline.load_split(cfg.data, cfg.data.validation_split)
  test, _ = input_pipeline.load_split(cfg.data, cfg.data.test_split)
  seconds_per_segment = float(next(iter(train))["seconds_per_segment"])
  for stream in cfg.streams if cfg.cas.seeds_file else ():  # the user's seeds files
    seeds_lib.load_seeds(cfg.cas.seeds_file.format(stream=stream), len(info.class_names) + 1)
  os.makedirs(cfg.model_dir, exist_ok=True)
  logging.info("%d replica(s); model_dir %s", strategy.num_replicas_in_sync, cfg.model_dir)

  # 2-3. Seeds, SSG / ASSG and evaluation.
  try:
    nets, metrics = train_and_evaluate(cfg, strategy, train, validation, test, info)
  except KeyboardInterrupt:  # Ctrl-C: every checkpoint written so far is complete
    raise SystemExit(f"interrupted; the checkpoints in {cfg.model_dir} are kept: run the same "
                     "command again to resume") from None
  except training.CorruptCheckpointError as e:
    raise SystemExit(f"error: {e}") from None
  if metrics is None:  # a non-chief worker of a multi-worker run: the chief reports
    return
  print(f"\n{cfg.data.dataset} {cfg.data.test_split}: mAP (%) per tIoU\n"
        + format_table(metrics))

  # 4. Export for TF Serving, with the post-processing chosen on the validation split.
  from assg_tf import export  # pylint: disable=g-import-not-at-top
  exported = exported_variant(cfg)
  cfg = dataclasses.replace(cfg, predict=dataclasses.replace(
      cfg.predict, **metrics[exported]["predict"]))
  path = export.export_saved_model(nets[exported], info, cfg,
                                   os.path.join(cfg.model_dir, "export"), seconds_per_segment,
                                   score_nets=nets.get("cas"))
  print(f"exported {exported} to {path}")


if __name__ == "__main__":
  app.run(assg_flags.with_clear_errors(main))
