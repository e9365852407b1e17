"""``python -m multispike ...`` (and ``torchrun ... -m multispike train ...``): the command line."""
import sys

from .cli import main

sys.exit(main())
