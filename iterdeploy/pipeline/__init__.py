"""The loop as a pipeline: its configuration tree (params), where artifacts live (layout), the stage
registry and one function per artifact (registry, stages), what stages work in (context), DVC (dvc,
dvcgen, pin), lineage, the evaluation plot, and the separate pre-training pipeline (pretrain)."""
