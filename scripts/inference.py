#!/usr/bin/env python3
"""Restore faces with GFPGAN: ``python scripts/inference.py -i inputs -o results -v 1.4``.

Thin wrapper around :func:`gfpgan.cli.inference.main` (also installed as ``gfpgan-infer``); see ``--help``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from gfpgan.cli.inference import main  # noqa: E402
from gfpgan.utils.errors import run_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_main(main))
