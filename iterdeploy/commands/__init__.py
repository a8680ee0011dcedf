"""CLI subcommands, one module each."""


def add_project_arguments(parser, params: bool = True) -> None:
    """--root (and --params), the same in every command that works on a project folder."""
    parser.add_argument("--root", default=".", metavar="DIR", help="project root (default: .)")
    if params:
        parser.add_argument("--params", default="params.yaml", metavar="FILE", help="parameters file under the root")
