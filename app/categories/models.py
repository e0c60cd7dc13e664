"""Models of categories."""
