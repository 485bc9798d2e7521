"""Benchmarks: the measured figures of each flow (see benchmarks/README.md)."""
