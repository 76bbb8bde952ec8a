"""Installs assg_tf and its tfds dataset builders.

The repository keeps the tfds builders in the top-level folder ``datasets/`` (the layout of
tensorflow/datasets). They are installed as the sub-package ``assg_tf.datasets`` rather than
as a top-level ``datasets`` package, so that installing assg_tf never shadows Hugging Face's
``datasets`` package that many users already have.
"""
import setuptools

DATASET_PACKAGES = ["datasets"] + [
    "datasets." + p for p in setuptools.find_packages("datasets")
]

setuptools.setup(
    name="assg_tf",
    version="0.1.0",
    description=(
        "Adversarial Seeded Sequence Growing (ACM MM 2019) for weakly-supervised temporal "
        "action localization, in TensorFlow 2 / Keras 3."
    ),
    python_requires=">=3.10",
    packages=setuptools.find_packages(include=["assg_tf", "assg_tf.*"])
    + ["assg_tf." + p for p in DATASET_PACKAGES],
    package_dir={"assg_tf." + p: p.replace(".", "/") for p in DATASET_PACKAGES},
    package_data={
        "assg_tf": ["data/**/*"],
        "assg_tf.datasets": ["**/dummy_data/**/*", "**/*.bib", "**/*.md", "**/*.txt"],
    },
    include_package_data=True,
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.15,<4",
        "tensorflow-datasets>=4.9.10,<5",
        # tensorflow-datasets 4.9.10 imports importlib_resources without declaring it.
        "importlib_resources>=6",
        "numpy>=1.26,<3",
        "absl-py>=2.1,<3",
        "scikit-learn>=1.4,<2",
        # The synthetic features' AR(1) noise (scipy.signal.lfilter); scikit-learn needs it too.
        "scipy>=1.11,<2",
        # TensorFlow 2.21 no longer ships TensorBoard, which implements tf.summary.scalar (the
        # training curves) and reads them back for assg_tf.visualize.
        "tensorboard>=2.20,<3",
        # Figures (assg_tf.visualize, benchmark plots): the paper's Figure 3 and result plots.
        "matplotlib>=3.8,<4",
    ],
    # dill: tensorflow_datasets.testing (DatasetBuilderTestCase) does not import without it.
    # av (PyAV, FFmpeg's libraries in a wheel): decoding videos for I3D feature extraction
    # (assg_tf.extract_features, predict --video); optional, and in "test" so CI runs the
    # video tests.
    # pytest-xdist: the suite runs on two worker processes (pyproject.toml's addopts), which
    # cuts it from about 11 to 7 minutes on 2 cores: much of it is single-threaded (imports,
    # tracing, subprocesses of the command-line tests).
    extras_require={"video": ["av>=12"],
                    "test": ["pytest>=8", "pytest-xdist>=3.5", "dill", "av>=12"]},
)
