"""Synthetic sample data (seeded, flagged `is_sample`): the bundled chain and benchmark inputs."""
