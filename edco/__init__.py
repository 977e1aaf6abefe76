"""EDCO core: entropy scoring, selection, training and evaluation, free of orchestration.

Importing `edco` pulls in neither Prefect nor MLflow; `edco.cli.app` is the one module that
sits on top of flows/, tasks/ and storage/.
"""

__version__ = "0.1.0"
