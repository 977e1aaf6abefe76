"""Benchmarks: one script per question, each printing Markdown (docs/BENCHMARKS.md).

Run one as a module from the checkout's root, `.venv/bin/python -m benchmarks.NAME`, so that
`benchmarks.harness`, the setup they share, is importable. Not installed with edco.
"""
