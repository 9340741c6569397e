"""hepml.demo.files."""
