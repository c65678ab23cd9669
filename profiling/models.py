"""Models of profiling."""
