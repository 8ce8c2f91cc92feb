"""Samples, importers, dataset versions and splits."""
