"""hepml.apply.samples."""
