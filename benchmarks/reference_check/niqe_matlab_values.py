"""Our NIQE (variant matlab) against the official MATLAB release's published values on five TID2013 images.

The values are the "NIQE(org)" row of IQA-PyTorch's calibration table (chaofengc/IQA-PyTorch,
ResultsCalibra/results_official.csv: the LIVE MATLAB release run on ResultsCalibra/dist_dir/I03, I04, I06, I08 and
I19.bmp).
The images are not committed here; get them from that repository and pass the folder:

    python benchmarks/reference_check/niqe_matlab_values.py path/to/ResultsCalibra/dist_dir

The MATLAB release converts an RGB image with ``rgb2gray`` before scoring, hence ``convert_to="gray"``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from gfpgan.metrics.niqe import calculate_niqe  # noqa: E402

OFFICIAL_MATLAB = {  # IQA-PyTorch ResultsCalibra/results_official.csv, row "niqe"
    "I03.bmp": 15.7536293917814,
    "I04.bmp": 3.65492152353770,
    "I06.bmp": 3.23547743716998,
    "I08.bmp": 3.18403333858339,
    "I19.bmp": 8.63519663862637,
}


def main(folder: str) -> int:
    worst = 0.0
    print(f"{'image':8s} {'MATLAB':>10s} {'ours':>10s} {'difference':>11s}")
    for name, official in OFFICIAL_MATLAB.items():
        bgr = cv2.imread(str(Path(folder) / name))
        if bgr is None:
            raise SystemExit(f"error: {Path(folder) / name} is missing or unreadable")
        ours = calculate_niqe(bgr[:, :, ::-1], convert_to="gray", variant="matlab")
        worst = max(worst, abs(ours - official))
        print(f"{name:8s} {official:10.4f} {ours:10.4f} {ours - official:+11.2e}")
    print(f"largest difference {worst:.2e}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    raise SystemExit(main(sys.argv[1]))
