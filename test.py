"""Test a generator checkpoint from the repository root: ``python test.py -opt options/test_gfpgan.yml``.

Restores and scores every test set of the option file; see gfpgan/test.py.
"""

import sys

from gfpgan.test import main

if __name__ == "__main__":
    sys.exit(main())
