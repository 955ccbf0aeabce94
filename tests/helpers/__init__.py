"""Shared test helpers: an in-process CLI runner and a fixture cluster for fakepve."""
