"""Benchmarks and reference checks: side-by-side measurements against the reference implementation. Not part of
the product: nothing in gfpgan/ imports this folder."""
