"""`python -m streamgan.preprocess ...`: the same job as `streamgan preprocess ...`."""
import sys

from streamgan.pipeline.cli import main

sys.exit(main(["preprocess", *sys.argv[1:]]))
