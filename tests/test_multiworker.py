"""Training on several machines or devices (docs/DESIGN.md "Method"): MultiWorkerMirroredStrategy
with
two worker processes on localhost, and MirroredStrategy over two logical CPUs against one.

TensorFlow fixes the cluster and the device list when it starts, so every run is a fresh
process running `_WORKER` below on tiny in-memory synthetic data.
"""
import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

_WORKER = textwrap.dedent("""
    import os, sys
    mode, model_dir, out = sys.argv[1:4]
    import tensorflow as tf
    if mode == "mirrored":
      cpu = tf.config.list_physical_devices("CPU")[0]
      tf.config.set_logical_device_configuration(
          cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import dataclasses
    import keras
    import numpy as np
    from assg_tf import config as config_lib, distribute, input_pipeline, stages, synthetic
    from assg_tf import figures

    if mode == "multi":  # before any op runs: collectives are configured at startup
      strategy = distribute.create_strategy()
    spec = synthetic.SPECS["synthetic"]
    examples = list(synthetic.generate_split(spec, "train"))[:16]
    info = config_lib.DatasetInfo(tuple(synthetic.class_names(spec)), spec.feature_dim,
                                  spec.feature_dim, len(examples))
    train = input_pipeline.from_examples(lambda: examples, spec.num_classes, spec.feature_dim,
                                         spec.feature_dim)
    cfg = config_lib.Config(
        data=config_lib.DataConfig(num_segments=32, batch_size=4, shuffle_buffer=16),
        # The paper's background rule: every video gets background seeds even from a CAS
        # network trained 4 steps (what is tested here is the distribution, not the seeds).
        cas=config_lib.CASConfig(hidden_dim=16, attention_dim=8, steps=4, bg_seed_rule="paper"),
        model=config_lib.ModelConfig(hidden_dim=32),
        train=config_lib.TrainConfig(learning_rate=1e-3, steps=4, checkpoint_every=2,
                                     log_every=1),
        model_dir=model_dir)

    def weights(net):
      return {f"{net.name}/{i}": v.numpy() for i, v in enumerate(net.weights)}

    saved = {}
    if mode == "multi":
      assert isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy), strategy
      assert strategy.num_replicas_in_sync == 2
      keras.utils.set_random_seed(0)
      cas_net = stages.train_cas(cfg, strategy, info, train, "rgb")
      seeds = stages.compute_seeds(cas_net, train, cfg, info, "rgb")
      keras.utils.set_random_seed(1)
      net = stages.train_assg(cfg, strategy, info, train, seeds, "rgb", "assg")
      saved.update(weights(cas_net))
      saved.update(weights(net))
    else:
      cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=12))
      from assg_tf import model as model_lib
      keras.utils.set_random_seed(0)
      cas_net = model_lib.build_net("cas", spec.num_classes, spec.feature_dim, cfg)
      seeds = stages.compute_seeds(cas_net, train, cfg, info, "rgb")
      strategies = {}
      for devices in (["/cpu:0", "/cpu:1"], ["/cpu:0"]):
        strategy = strategies[len(devices)] = tf.distribute.MirroredStrategy(devices)
        run_dir = os.path.join(model_dir, str(len(devices)))
        keras.utils.set_random_seed(1)
        net = stages.train_assg(dataclasses.replace(cfg, model_dir=run_dir), strategy, info,
                                  train, seeds, "rgb", "assg")
        saved.update({f"{len(devices)}/{k}": v for k, v in weights(net).items()})
        curves = figures.read_curves(os.path.join(run_dir, "logs"))["assg_rgb"]
        for tag in ("seed_loss", "class_loss"):
          saved[f"{len(devices)}/{tag}"] = curves[tag][1]
        saved[f"{len(devices)}/replicas"] = np.array(strategy.num_replicas_in_sync)
      # Two devices (the same strategy object: a second one would reuse its collective keys):
      # each stage stopped at a checkpoint, then resumed with other initial draws (weights,
      # dropout seeds), and uninterrupted.
      import random
      for name, steps in (("cut", 6), ("cut", 12), ("whole", 12)):
        run_cfg = dataclasses.replace(
            cfg, model_dir=os.path.join(model_dir, name),
            cas=dataclasses.replace(cfg.cas, steps=steps),
            train=dataclasses.replace(cfg.train, steps=steps))
        keras.utils.set_random_seed(1)
        if steps == 12 and name == "cut":
          random.random()
        cas = stages.train_cas(run_cfg, strategies[2], info, train, "rgb")
        net = stages.train_assg(run_cfg, strategies[2], info, train, seeds, "rgb", "assg")
        saved.update({f"{name}{steps}/{k}": v for k, v in {**weights(cas), **weights(net)}.items()})
    np.savez(out, **saved)
""")


def _free_ports(count):
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(("localhost", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def _env(**extra):
  env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
  env.update(TF_CPP_MIN_LOG_LEVEL="2", **extra)
  return env


def test_two_workers_end_with_identical_weights(tmp_path):
  ports = _free_ports(2)
  cluster = {"worker": [f"localhost:{p}" for p in ports]}
  model_dir = str(tmp_path / "run")  # shared, as on a shared file system
  procs = []
  for index in range(2):
    tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
    procs.append(subprocess.Popen(
        [sys.executable, "-c", _WORKER, "multi", model_dir, str(tmp_path / f"w{index}.npz")],
        env=_env(TF_CONFIG=tf_config), cwd=str(tmp_path), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True))
  try:
    logs = [p.communicate(timeout=240)[0] for p in procs]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
  for index, (p, log) in enumerate(zip(procs, logs)):
    assert p.returncode == 0, f"worker {index}:\n{log[-3000:]}"
  with np.load(tmp_path / "w0.npz") as a, np.load(tmp_path / "w1.npz") as b:
    assert sorted(a.files) == sorted(b.files)
    assert any(k.startswith("cas_rgb/") for k in a.files)
    assert any(k.startswith("assg_rgb/") for k in a.files)
    for key in a.files:
      np.testing.assert_array_equal(a[key], b[key], err_msg=key)
  # The chief alone wrote checkpoints and logs; worker 1's temporary folders are gone.
  for stage in ("cas_rgb", "assg_rgb"):
    folder = os.path.join(model_dir, "checkpoints", stage)
    names = sorted(os.listdir(folder))
    assert "checkpoint" in names and "ckpt-4.index" in names, names
    assert not [n for n in names if n.startswith("workertemp")], names
    assert len(os.listdir(os.path.join(model_dir, "logs", stage))) == 1


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
  tmp_path = tmp_path_factory.mktemp("mirrored")
  proc = subprocess.run(
      [sys.executable, "-c", _WORKER, "mirrored", str(tmp_path / "run"),
       str(tmp_path / "m.npz")], env=_env(), cwd=str(tmp_path), capture_output=True,
      text=True, timeout=240, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  with np.load(tmp_path / "m.npz") as f:
    return dict(f)


def test_two_mirrored_devices_match_one_device(mirrored):
  saved = mirrored
  assert int(saved["2/replicas"]) == 2 and int(saved["1/replicas"]) == 1
  weights = sorted(k[2:] for k in saved if k.startswith("1/assg_rgb/"))
  assert weights
  for key in weights:
    np.testing.assert_allclose(saved[f"2/{key}"], saved[f"1/{key}"], rtol=1e-5, atol=1e-6,
                               err_msg=key)
  for devices in ("1", "2"):
    for tag in ("seed_loss", "class_loss"):
      loss = saved[f"{devices}/{tag}"]
      assert len(loss) == 12
      assert loss[-3:].mean() < loss[:3].mean(), (devices, tag, loss)
  np.testing.assert_allclose(saved["2/seed_loss"], saved["1/seed_loss"], rtol=1e-4)


def test_two_mirrored_devices_resume_bit_identical(mirrored):
  resumed = sorted(k[len("cut12/"):] for k in mirrored if k.startswith("cut12/"))
  assert any(k.startswith("cas_rgb/") for k in resumed)
  assert any(k.startswith("assg_rgb/") for k in resumed)
  for key in resumed:
    np.testing.assert_array_equal(mirrored[f"cut12/{key}"], mirrored[f"whole12/{key}"],
                                  err_msg=key)
