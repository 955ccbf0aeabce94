"""generators layer."""
