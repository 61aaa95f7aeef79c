"""`python -m keras_siglip.cli ARGS` runs `keras-siglip ARGS`."""

import sys

from keras_siglip.cli import main

sys.exit(main())
