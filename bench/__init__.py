"""Benchmarks (`make bench`): numbers for the brief's measures, written as JSON and a table."""
