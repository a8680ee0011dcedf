"""Assets, checks and resources of the code location; `dagster_project.definitions` assembles them."""
