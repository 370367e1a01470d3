#!/usr/bin/env python3
"""Score restored faces: ``python scripts/evaluate.py --restored results --gt hq --metrics psnr ssim niqe``.

Thin wrapper around :func:`gfpgan.cli.evaluate.main` (also installed as ``gfpgan-eval``); see ``--help``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from gfpgan.cli.evaluate import main  # noqa: E402
from gfpgan.utils.errors import run_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_main(main))
