"""hepml.evaluate.performance."""
