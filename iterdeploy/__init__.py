"""iterdeploy: iterative deployment of language models on planning tasks."""

__version__ = "0.1.0"
