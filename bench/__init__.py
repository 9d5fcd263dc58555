"""Onthaal's benchmarks: ``make bench`` (``python -m bench [NAME ...]``)."""
