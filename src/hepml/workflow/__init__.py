"""hepml.workflow."""
