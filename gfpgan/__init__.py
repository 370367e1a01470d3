"""gfpgan: a config-driven PyTorch framework for blind face restoration (GFP-GAN, Wang et al., CVPR 2021).

Importing the package registers every arch, loss, dataset, metric, optimizer and schedule (explicit imports in each
sub-package and in gfpgan/optim.py).
"""

from gfpgan import archs, data, losses, metrics, optim  # noqa: F401  (registration)
from gfpgan.registry import ARCHS, DATASETS, LOSSES, METRICS, OPTIMIZERS, SCHEDULERS

__version__ = "0.1.0"
__all__ = ["ARCHS", "DATASETS", "LOSSES", "METRICS", "OPTIMIZERS", "SCHEDULERS", "FaceRestorer", "__version__"]


def __getattr__(name: str):
    # The restorer pulls in face detection helpers; import it only when asked for.
    if name == "FaceRestorer":
        from gfpgan.inference import FaceRestorer

        return FaceRestorer
    raise AttributeError(f"module 'gfpgan' has no attribute {name!r}")
