"""hepml.ingest.sample."""
