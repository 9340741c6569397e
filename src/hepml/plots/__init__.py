"""hepml.plots."""
