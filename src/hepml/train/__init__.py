"""hepml.train.bdt."""
