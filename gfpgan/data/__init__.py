"""Data: degradation synthesis, datasets (registered in DATASETS), sampler, synthetic faces, test-set tools.

Every module is imported here explicitly (that is how the datasets get registered).
"""

from gfpgan.data import (  # noqa: F401
    check,
    components,
    degradations,
    ffhq,
    ffhq_degradation,
    image_io,
    paired,
    sampler,
    synthetic,
    testset,
    worker,
)
from gfpgan.data.degradations import DegradationSettings, degrade
from gfpgan.data.ffhq_degradation import FFHQDegradationDataset
from gfpgan.data.paired import PairedImageDataset, SingleImageDataset
from gfpgan.data.sampler import EnlargedSampler
from gfpgan.data.synthetic import ensure_synthetic_faces, make_synthetic_faces

__all__ = [
    "DegradationSettings",
    "EnlargedSampler",
    "FFHQDegradationDataset",
    "PairedImageDataset",
    "SingleImageDataset",
    "degrade",
    "ensure_synthetic_faces",
    "make_synthetic_faces",
]
