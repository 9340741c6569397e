"""hepml.config.model."""
