"""Generator unit tests."""
