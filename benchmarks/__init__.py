"""Benchmarks: each module prints a table and writes JSON under var/bench/."""
