"""semtrace benchmarks: every figure is printed with a baseline measured side by side in the
same run, as a ratio (the machine is shared and noisy: medians of several rounds)."""
