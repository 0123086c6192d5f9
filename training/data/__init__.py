"""Datasets for training: adapters per dataset, preprocessing through the engine, pairing and splits."""
