"""Benchmarks: scripts that measure Clarion over loopback (not tests)."""
