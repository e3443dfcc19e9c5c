import sys

from streamgan.pipeline.cli import main

sys.exit(main())
