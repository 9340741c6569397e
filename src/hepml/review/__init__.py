"""hepml.review."""
