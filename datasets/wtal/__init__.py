"""tfds dataset `wtal` (docs/DESIGN.md "Data"): the builder is in `wtal_dataset_builder.py`.

Import `assg_tf.datasets.wtal.wtal_dataset_builder` to register it with tfds; this package
itself imports nothing, so that importing it stays cheap.
"""
