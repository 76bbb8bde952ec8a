"""The stages of a run, as library functions: CAS, seeds, SSG / ASSG, evaluation (paper 3.2-3.5).

`train_and_evaluate` runs them in order on given splits; `python -m assg_tf.train` (the command)
and the benchmarks call it (paper 3.5 trains rgb and flow apart):

1. `train_cas`: per stream, the CAS seed network (paper 3.2.1);
2. `load_or_compute_seeds` (`compute_seeds`): the initial seeds on every training video, of
   each stream, or with `--joint_seeds` (the default) one set for both streams
   (`seeds.join_streams`, docs/DESIGN.md "Departures from the paper");
3. `train_assg`: per stream, the SSG and / or ASSG network from those seeds (Algorithm 1);

then every variant (cas, ssg, assg) gets its post-processing chosen on the held-out training
videos (`selection.py`) and is evaluated once on the test split (`evaluate_predictor`). Nothing
is chosen by test mAP. Each training stage is one `training.run_stage` loop, which checkpoints
and resumes; the files a run writes are those of `run_dir.py`.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, Dict, Optional

import keras
import numpy as np
import tensorflow as tf

from assg_tf import config as config_lib
from assg_tf import distribute
from assg_tf import evaluation
from assg_tf import inference
from assg_tf import input_pipeline
from assg_tf import model as model_lib
from assg_tf import run_dir
from assg_tf import seeds as seeds_lib
from assg_tf import selection
from assg_tf import training


# ---------------------------------------------------------------------------------------------
# Training stages of one stream.


def feature_statistics(train_examples: tf.data.Dataset, stream: str):
  """Per-channel mean and standard deviation of one stream over every snippet of the training
  videos (one pass, float64 sums): what `layers.FeatureStandardization` subtracts and divides."""
  total, squares, count = 0.0, 0.0, 0
  for example in train_examples.as_numpy_iterator():
    x = np.asarray(example[stream], np.float64)
    total, squares, count = total + x.sum(0), squares + (x ** 2).sum(0), count + len(x)
  if not count:
    raise ValueError("feature_statistics: the training split has no snippets")
  mean = total / count
  return mean, np.sqrt(np.maximum(squares / count - mean ** 2, 0.0))


def _standardize(net, cfg: config_lib.Config, train_examples, stream: str):
  """Fills the network's standardisation from the training videos (before step 0; a resumed
  stage restores it from the checkpoint instead)."""
  if cfg.data.standardize:
    net.standardize.set_statistics(*feature_statistics(train_examples, stream))


def train_cas(cfg: config_lib.Config, strategy, info: config_lib.DatasetInfo,
              train_examples: tf.data.Dataset, stream: str,
              validate_fn: Optional[Callable] = None):
  """Trains (or resumes) the CAS seed network of one stream (paper 3.2.1)."""
  config_lib.validate(cfg)
  stage = run_dir.stage_name("cas", stream)
  with strategy.scope():
    net = model_lib.build_net("cas", info.num_classes, info.stream_dim(stream), cfg, name=stage)
    _standardize(net, cfg, train_examples, stream)
    optimizer = keras.optimizers.Adam(cfg.cas.learning_rate)
  step = training.cas_replica_step(net, optimizer, cfg.cas, cfg.data.batch_size)
  make = lambda start: input_pipeline.train_dataset(
      train_examples, cfg.data.num_segments, cfg.data.batch_size, seed=cfg.data.seed, skip=start,
      shuffle_buffer=cfg.data.shuffle_buffer, streams=(stream,))
  validate = (lambda: validate_fn({stream: net})) if validate_fn else None
  training.run_stage(stage, net, {"optimizer": optimizer}, step, make, cfg.cas.steps,
                     cfg.train, strategy, cfg.model_dir, validate)
  return net


def compute_seeds(cas_net, train_examples: tf.data.Dataset, cfg: config_lib.Config,
                  info: config_lib.DatasetInfo, stream: str) -> Dict[str, np.ndarray]:
  """Initial seeds of every training video at full length: {video_id: [K, 2] coordinates}."""
  channels = config_lib.stream_slice(stream, info.rgb_dim)
  seeds = {}
  for batch in input_pipeline.eval_dataset(train_examples, cfg.data.batch_size):
    x, mask = batch["features"][..., channels], batch["mask"]
    dense = seeds_lib.initial_seeds(x, cas_net(x, mask, training=False), mask,
                                    batch["labels"], cfg.cas).numpy()
    for video, length, video_seeds in zip(batch["video_id"].numpy(),
                                          batch["num_segments"].numpy(), dense):
      seeds[video.decode()] = seeds_lib.to_coordinates(video_seeds[:length])
  return seeds


def load_or_compute_seeds(cfg: config_lib.Config, cas_nets, train,
                          info: config_lib.DatasetInfo, save: bool = True) -> Dict[str, Dict]:
  """{stream: initial seeds}: the user's files, the stored files of an earlier run, or the CAS
  networks' (joined across the streams with `--joint_seeds`, `seeds.join_streams`), then stored
  in OUT/seeds/<stream>.npz."""
  if cfg.cas.seeds_file:
    return {stream: seeds_lib.load_seeds(cfg.cas.seeds_file.format(stream=stream), info.channels)
            for stream in cfg.streams}
  paths = {stream: run_dir.seeds_path(cfg.model_dir, stream) for stream in cfg.streams}
  if all(os.path.exists(path) for path in paths.values()):
    return {stream: seeds_lib.load_seeds(path, info.channels) for stream, path in paths.items()}
  seeds = {stream: compute_seeds(cas_nets[stream], train, cfg, info, stream)
           for stream in cfg.streams}
  if cfg.cas.joint_seeds and len(seeds) > 1:
    joined = seeds_lib.join_streams(seeds, info.channels)
    seeds = {stream: joined for stream in seeds}
  for stream, path in paths.items() if save else ():
    seeds_lib.save_seeds(path, seeds[stream], info.channels)
  return seeds


def train_assg(cfg: config_lib.Config, strategy, info: config_lib.DatasetInfo,
               train_examples: tf.data.Dataset, seeds: Dict[str, np.ndarray], stream: str,
               variant: str, validate_fn: Optional[Callable] = None):
  """Trains (or resumes) the SSG or ASSG network of one stream from its seeds (Algorithm 1)."""
  config_lib.validate(cfg)
  stage = run_dir.stage_name(variant, stream)
  with strategy.scope():
    net = model_lib.build_net(variant, info.num_classes, info.stream_dim(stream), cfg,
                              name=stage)
    _standardize(net, cfg, train_examples, stream)
    seed_optimizer = keras.optimizers.Adam(cfg.train.learning_rate)
    class_optimizer = keras.optimizers.Adam(cfg.train.learning_rate)
  step = training.assg_replica_step(
      net, seed_optimizer, class_optimizer, cfg.model, cfg.data.batch_size,
      with_classifier=(variant == "assg"))
  with_seeds = seeds_lib.attach_seeds(train_examples, seeds, info.channels)
  make = lambda start: input_pipeline.train_dataset(
      with_seeds, cfg.data.num_segments, cfg.data.batch_size, seed=cfg.data.seed, skip=start,
      extra_sequence_keys=("seeds",), shuffle_buffer=cfg.data.shuffle_buffer,
      streams=(stream,))
  validate = (lambda: validate_fn({stream: net})) if validate_fn else None
  optimizers = {"seed_optimizer": seed_optimizer, "class_optimizer": class_optimizer}
  training.run_stage(stage, net, optimizers, step, make, cfg.train.steps, cfg.train, strategy,
                     cfg.model_dir, validate)
  return net


# ---------------------------------------------------------------------------------------------
# Evaluation.


def evaluate_predictor(predictor: inference.Predictor, examples, class_names, subset: str,
                       cfg: config_lib.Config, predictions_path: str = None,
                       stream_outputs=None) -> Dict:
  """Detection mAP per tIoU, its averages and the classification mAP of one variant
  (`stream_outputs`: the networks' outputs on `examples`, `Predictor.stream_outputs_of`)."""
  batches = (stream_outputs if stream_outputs is not None
             else input_pipeline.eval_dataset(examples, cfg.data.batch_size))
  results, scores, labels, _ = predictor.predict_dataset(batches, class_names)
  if predictions_path:
    evaluation.write_predictions(predictions_path, results)
  gt = evaluation.load_ground_truth(
      {"database": evaluation.ground_truth_database(examples, class_names, subset)},
      subset=subset, class_names=list(class_names))
  result = evaluation.evaluate_detection(
      gt, evaluation.load_predictions({"results": results}), cfg.eval.tiou_thresholds,
      ignore_ambiguous=cfg.eval.thumos_ambiguous)
  metrics = evaluation.summarize(result)
  del metrics["tiou_thresholds"]
  metrics["classification_mAP"] = evaluation.classification_map(labels, scores)
  return metrics


def select_on_validation(predictor: inference.Predictor, validation, class_names,
                         cfg: config_lib.Config):
  """`selection.select` from `predictor`'s settings on the held-out training videos: (the
  chosen PredictConfig, the table of every candidate). The networks run once; each candidate
  only fuses and detects again."""
  outputs = predictor.stream_outputs_of(
      input_pipeline.eval_dataset(validation, cfg.data.batch_size))
  return selection.select(
      lambda pc: evaluate_predictor(predictor.with_config(pc), validation, class_names,
                                    "validation", cfg, stream_outputs=outputs)["average_mAP"],
      predictor.cfg)


def exported_variant(cfg: config_lib.Config) -> str:
  """The variant exported as the SavedModel: assg, else the last one trained."""
  return "assg" if "assg" in cfg.variants else cfg.variants[-1]


# ---------------------------------------------------------------------------------------------
# The whole run.


def train_and_evaluate(cfg: config_lib.Config, strategy, train, validation, test,
                       info: config_lib.DatasetInfo):
  """Trains every stage and evaluates every variant on given splits; returns (nets, metrics).

  `nets` maps each variant (and "cas" whenever the seed networks were trained) to its {stream:
  network}; `metrics` is what metrics.json holds
  (None on the non-chief workers of a multi-worker run, which neither write nor evaluate).
  Benchmarks call this directly with in-memory synthetic splits.
  """
  config_lib.validate(cfg)
  # Weight initialisation (Keras' own generator), dropout and TF ops follow the run's seed.
  keras.utils.set_random_seed(cfg.data.seed)
  class_names = info.class_names
  if info.seconds_per_segment is None:
    info = dataclasses.replace(info,
                               seconds_per_segment=input_pipeline.seconds_per_segment(train))
  # Under MultiWorkerMirroredStrategy every worker trains; only the chief writes and evaluates.
  chief = distribute.is_chief(strategy)
  # What predict/export/visualize need to rebuild the run without the data.
  if chief:
    run_dir.write_run(cfg, info, cfg.predict)

  predictors = {}  # one traced forward pass per network, reused at every validation

  def validate(nets):  # mAP of one stream on the held-out training videos
    key = tuple(sorted((stream, id(net)) for stream, net in nets.items()))
    if key not in predictors:
      # Validation of one stream alone: its own class scores (the CAS nets may not exist yet).
      own = dataclasses.replace(cfg.predict, video_scores="own")
      predictors[key] = inference.Predictor(nets, info, own)
    return evaluate_predictor(predictors[key], validation, class_names, "validation",
                              cfg)["average_mAP"]

  has_validation = validation is not None and next(iter(validation), None) is not None

  # Per stream: the CAS seed network; the initial seeds (of both streams together with
  # --joint_seeds); per stream: the SSG / ASSG network (Algorithm 1).
  nets = {variant: {} for variant in cfg.variants}
  cas_nets = {}  # the seed networks, which also give the class scores (--video_scores=cas)
  needs_cas = ("cas" in cfg.variants or not cfg.cas.seeds_file
               or cfg.predict.video_scores == "cas")
  for stream in cfg.streams if needs_cas else ():
    cas_nets[stream] = train_cas(cfg, strategy, info, train, stream,
                                 validate if has_validation else None)
    if chief:  # predict/export need its class scores even when cas is not a variant
      run_dir.save_keras(cas_nets[stream], run_dir.model_path(cfg.model_dir, "cas", stream))
  variants = model_lib.variants_to_train(cfg.variants)
  seeds = load_or_compute_seeds(cfg, cas_nets, train, info, save=chief) if variants else {}
  for stream in cfg.streams:
    for variant in variants:
      nets[variant][stream] = train_assg(cfg, strategy, info, train, seeds[stream], stream,
                                         variant, validate if has_validation else None)
      if chief:
        run_dir.save_keras(nets[variant][stream],
                           run_dir.model_path(cfg.model_dir, variant, stream))

  if cas_nets:  # returned whenever trained: export needs their class scores
    nets["cas"] = cas_nets

  # Post-processing chosen on the held-out training videos, then evaluation on the test split.
  if not chief:
    return nets, None
  metrics = {"dataset": cfg.data.dataset, "subset": cfg.data.test_split,
             "tiou_thresholds": list(cfg.eval.tiou_thresholds)}
  for variant in cfg.variants:
    make = lambda predict_cfg, v=variant: inference.Predictor(
        nets[v], info, predict_cfg, score_nets=cas_nets or None)
    predict_cfg = cfg.predict
    if cfg.predict.select_on_validation and has_validation:
      predict_cfg, table = select_on_validation(make(cfg.predict), validation, class_names, cfg)
      if variant == exported_variant(cfg):
        selection.write_flagfile(run_dir.selected_flags_path(cfg.model_dir), predict_cfg,
                                 table)
        # predict, export and visualize rebuild the run from run.json: the chosen values.
        run_dir.write_run(cfg, info, predict_cfg)
    metrics[variant] = evaluate_predictor(
        make(predict_cfg), test, class_names, cfg.data.test_split, cfg,
        run_dir.predictions_path(cfg.model_dir, variant))
    metrics[variant]["predict"] = {k: getattr(predict_cfg, k) for k in selection.GRID}
  run_dir.write_json(run_dir.metrics_path(cfg.model_dir), metrics)
  # The ground truth G of `python -m assg_tf.evaluate --ground_truth=G --subset=<test split>`.
  run_dir.write_json(run_dir.ground_truth_path(cfg.model_dir), {
      "version": f"assg_tf {cfg.data.dataset} {cfg.data.test_split}", "database":
      evaluation.ground_truth_database(test, class_names, cfg.data.test_split)})
  return nets, metrics
