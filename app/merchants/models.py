"""Models of merchants."""
