"""hepml.export.models."""
