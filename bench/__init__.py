"""Benchmarks of the gateway: they print figures and ratios, measured side by side in one run."""
