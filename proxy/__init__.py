"""vecbridge: a transparent proxy that migrates a live app between vector databases."""

__version__ = "0.1.0"
