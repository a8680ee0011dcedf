"""Helpers for tests and benchmarks only, never imported by the runtime: tiny model folders
(tiny_models), the external validators the planning core is checked against, unified-planning and
VAL (validators), and seeded plan mutations (mutations)."""
