"""Train GFP-GAN from the repository root: ``python train.py -opt options/train_gfpgan.yml``.

The same as the ``gfpgan-train`` console command; see gfpgan/train.py.
"""

import sys

from gfpgan.train import main

if __name__ == "__main__":
    sys.exit(main())
