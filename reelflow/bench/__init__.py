"""Benchmarks (`reelflow bench NAME --json`): each prints figures with a same-run baseline."""
