"""Helpers for tests and benchmarks only: tiny model folders, reference validators, plan mutations.
Nothing in the runtime imports this package."""
