"""The benchmarks' own code (bench/)."""
