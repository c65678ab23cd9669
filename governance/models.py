"""Models of governance."""
