"""Fast Downward as an alternative reference planner (offline, through unified-planning).

Optional: needs the `up-fast-downward` package (`pip install iterdeploy[reference]`).
Uses the LAMA-first configuration, which is deterministic, so task sets built with
it are reproducible too.
"""

from __future__ import annotations

from iterdeploy.errors import ConfigError, IterdeployError


def fast_downward_plan(domain_text: str, problem_text: str, timeout: float = 120.0) -> list[str]:
    try:
        import unified_planning.shortcuts as ups
        from unified_planning.engines import PlanGenerationResultStatus as Status
        from unified_planning.io import PDDLReader
    except ImportError:
        raise ConfigError("reference 'fast-downward' needs unified-planning and up-fast-downward "
                          "(pip install 'iterdeploy[reference]')") from None
    ups.get_environment().credits_stream = None  # no banner on stdout
    problem = PDDLReader().parse_problem_string(domain_text, problem_text)
    try:
        planner = ups.OneshotPlanner(name="fast-downward")
    except Exception as exc:  # unified-planning raises its own error types for a missing engine
        raise ConfigError(f"reference 'fast-downward' is not available: {exc}") from None
    with planner:
        result = planner.solve(problem, timeout=timeout)
    if result.status not in (Status.SOLVED_SATISFICING, Status.SOLVED_OPTIMALLY):
        raise IterdeployError(f"fast-downward found no plan for problem {problem.name!r}: {result.status.name}")
    return [
        "(" + " ".join([a.action.name] + [str(p) for p in a.actual_parameters]) + ")"
        for a in result.plan.actions
    ]
