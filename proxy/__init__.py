"""vecbridge: a transparent proxy that migrates a live app between vector databases."""

import os

__version__ = "0.1.0"

# One BLAS thread. The proxy is an I/O server; its numpy work (embedded Qdrant searches,
# vector checks) is small, and OpenBLAS's default pool of one busy-waiting thread per
# core burned ~1 ms of CPU per app read on a 2-core machine while shadow reads ran,
# taking it from the primary's own requests and from the store next door. Set before
# numpy is first imported (this package is); an operator's own setting wins.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
