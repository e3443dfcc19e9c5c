"""`python -m preprocess ...`: the same job as `streamgan preprocess ...`."""
import sys

from pipeline.cli import main

sys.exit(main(["preprocess", *sys.argv[1:]]))
