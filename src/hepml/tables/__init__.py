"""hepml.tables.text."""
