"""output_generation."""
