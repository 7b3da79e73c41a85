"""One partition per connected workspace (= one QBO company)."""
import dagster as dg

workspaces = dg.DynamicPartitionsDefinition(name="workspaces")

# Run tags. The run queue allows one run per WORKSPACE_TAG value at a time (dagster.yaml).
WORKSPACE_TAG = "qbo_pipeline/workspace"
MODE_TAG = "qbo_pipeline/mode"
FULL, INCREMENTAL = "full", "incremental"


def run_tags(workspace_id: str, mode: str) -> dict[str, str]:
    return {WORKSPACE_TAG: workspace_id, MODE_TAG: mode}
