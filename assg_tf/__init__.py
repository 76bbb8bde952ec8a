"""assg_tf: Adversarial Seeded Sequence Growing (ACM MM 2019) in TensorFlow 2 / Keras 3.

After `import assg_tf`, `keras.saving.load_model` reads the `.keras` files that training writes:
the package's Keras layers and models (`assg_tf>NAME`, in `cas`, `layers`, `model`, `sap`) are
registered as soon as Keras is usable, whichever comes first, `import assg_tf` or
`import keras` (or `import tensorflow`, which imports Keras). Importing the package itself
imports neither, so the numpy-only commands (`python -m assg_tf.evaluate`) start in a fraction
of a second (docs/DESIGN.md "Pitfalls": Keras costs seconds and hundreds of MB).

How: if Keras is already imported, the four modules are imported now; otherwise a finder on
`sys.meta_path` wraps the loaders of `keras` and `tensorflow`, and once both (those that get
imported) have finished executing, the four modules are imported. Waiting for both matters:
`import tensorflow` imports Keras half-way through its own initialisation, and
`import keras` imports TensorFlow half-way through Keras'. `assg_tf.layers` etc. are also
reachable as attributes of the package (PEP 562 `__getattr__`).
"""
import importlib
import importlib.abc
import sys

__version__ = "0.1.0"

_KERAS_MODULES = ("cas", "i3d", "layers", "model", "sap")  # define the registered Keras classes
_WATCHED = ("keras", "tensorflow")
_registered = False


def _initializing(name: str) -> bool:
  """Whether module `name` is imported but still executing (Python marks its spec)."""
  spec = getattr(sys.modules.get(name), "__spec__", None)
  return bool(getattr(spec, "_initializing", False))


def _register_keras_classes(just_loaded: str = "") -> None:
  """Imports the modules that register `assg_tf>NAME`, once Keras is fully imported."""
  global _registered
  if _registered or "keras" not in sys.modules:
    return
  if any(_initializing(name) for name in _WATCHED if name != just_loaded):
    return  # the watched module still executing will call again when it is done
  _registered = True
  _RegisterOnImport.uninstall()
  for name in _KERAS_MODULES:
    importlib.import_module(f"{__name__}.{name}")


class _RegisterOnImport(importlib.abc.MetaPathFinder):
  """Finds nothing itself; wraps the loaders of `keras` and `tensorflow` so that the end of
  their execution calls `_register_keras_classes`."""

  def find_spec(self, fullname, path=None, target=None):
    if fullname not in _WATCHED:
      return None
    for finder in sys.meta_path:
      if finder is self or not hasattr(finder, "find_spec"):
        continue
      spec = finder.find_spec(fullname, path, target)
      if spec is not None:
        break
    else:
      return None
    loader = spec.loader
    if loader is None or not hasattr(loader, "exec_module"):
      return spec
    exec_module = loader.exec_module

    def exec_then_register(module):
      exec_module(module)
      _register_keras_classes(just_loaded=fullname)

    loader.exec_module = exec_then_register  # this spec's own loader instance
    return spec

  @staticmethod
  def uninstall() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _RegisterOnImport)]


def __getattr__(name: str):
  """`assg_tf.layers` etc. without importing them at `import assg_tf` (PEP 562)."""
  if name in _KERAS_MODULES:
    return importlib.import_module(f"{__name__}.{name}")
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_RegisterOnImport.uninstall()  # once, even if the package is re-imported
sys.meta_path.insert(0, _RegisterOnImport())
_register_keras_classes()  # now, if Keras is already imported
