"""hepml.ingest.sample.expressions."""
