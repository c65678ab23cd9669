"""Models of lineage."""
