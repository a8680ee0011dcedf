"""The planning core: PDDL tasks, plans from text, and the plan validator."""

from iterdeploy.planning.pddl import Domain, Problem, read_domain, read_problem
from iterdeploy.planning.plan import ParsedPlan, PlanSyntaxError, Step, parse_plan
from iterdeploy.planning.task import Task, load_task, task_from_text
from iterdeploy.planning.validate import ErrorKind, Verdict, validate

__all__ = [
    "Domain", "ErrorKind", "ParsedPlan", "PlanSyntaxError", "Problem", "Step", "Task", "Verdict",
    "load_task", "parse_plan", "read_domain", "read_problem", "task_from_text", "validate",
]
