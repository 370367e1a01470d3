#!/usr/bin/env python3
"""Export a GFPGAN (clean arch) generator to ONNX and verify it with onnxruntime.

``python scripts/export_onnx.py -v 1.4 -o gfpgan_v1.4.onnx`` or ``--model-path ckpt.pth``; thin wrapper around
:func:`gfpgan.export.main`, see ``--help``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from gfpgan.export import main  # noqa: E402
from gfpgan.utils.errors import run_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_main(main))
