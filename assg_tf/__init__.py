"""assg_tf: Adversarial Seeded Sequence Growing (ACM MM 2019) in TensorFlow 2 / Keras 3.

Importing the package registers its Keras layers and models (`assg_tf>NAME`), so
`keras.saving.load_model` reads the `.keras` files that training writes.
"""
from assg_tf import cas, layers, model, sap  # noqa: F401  (registers the Keras classes)

__version__ = "0.1.0"
