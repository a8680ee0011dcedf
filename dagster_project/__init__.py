"""Dagster code location of the iterative-deployment loop (thin: the work is in iterdeploy.pipeline)."""
