"""Run launching for the deployed pipeline: runs forked from a warm copy of the code
location (see warm_launcher.py for why)."""
from qbo_pipeline.launcher.warm_launcher import WarmProcessRunLauncher

__all__ = ["WarmProcessRunLauncher"]
