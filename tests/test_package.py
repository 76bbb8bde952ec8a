"""assg_tf/__init__.py: importing the package is light, and the `.keras` files still load.

Each case runs in a fresh Python process, since what matters is the order of the first imports.
"""
import os
import subprocess
import sys
import textwrap

import keras
import pytest

from assg_tf import cas
from assg_tf import model as model_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(script: str, cwd) -> subprocess.CompletedProcess:
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
  return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True,
                        text=True, cwd=str(cwd), env=env, check=False)


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory):
  """An ASSG network (layers, sap, model) and a CAS network (cas) saved as .keras files."""
  folder = tmp_path_factory.mktemp("keras_files")
  paths = []
  for net in [model_lib.ASSGNet(3, hidden_dim=8), cas.CASNet(3, hidden_dim=8, attention_dim=4)]:
    net(keras.ops.ones([1, 5, 4]))
    paths.append(str(folder / f"{net.name}.keras"))
    net.save(paths[-1])
  return paths


def test_import_assg_tf_imports_neither_keras_nor_tensorflow(tmp_path):
  proc = _run("""
      import sys
      import assg_tf, assg_tf.evaluation, assg_tf.flags, assg_tf.config
      print(sorted(m for m in ("keras", "tensorflow", "sklearn") if m in sys.modules))
  """, tmp_path)
  assert proc.returncode == 0, proc.stderr[-1500:]
  assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("imports", [
    "import assg_tf; import keras",
    "import keras; import assg_tf",
    "import assg_tf; import tensorflow; import keras",
    "import tensorflow; import assg_tf; import keras",
    "from assg_tf import layers; import keras",  # the package's own module imports Keras
])
def test_keras_files_load_in_a_fresh_process(keras_files, tmp_path, imports):
  """`keras.saving.load_model` finds the `assg_tf>NAME` classes whatever the import order."""
  proc = _run(f"""
      {imports}
      for path in {keras_files!r}:
        net = keras.saving.load_model(path)
        print(type(net).__module__, type(net).__name__)
  """, tmp_path)
  assert proc.returncode == 0, proc.stderr[-1500:]
  assert proc.stdout.split("\n")[:2] == ["assg_tf.model ASSGNet", "assg_tf.cas CASNet"]


def test_keras_modules_are_package_attributes(tmp_path):
  proc = _run("""
      import assg_tf
      print(assg_tf.layers.SSGBackbone.__name__, assg_tf.sap.__name__)
  """, tmp_path)
  assert proc.returncode == 0, proc.stderr[-1500:]
  assert proc.stdout.strip() == "SSGBackbone assg_tf.sap"
