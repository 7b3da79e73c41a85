"""`qbo-pipeline status / errors / retry / dedupe`: the ops team's view of the sync.

The state database is QBO_PIPELINE_DATABASE_URL (default: SQLite in the data directory),
JobsiteOn's is JOBSITEON_DATABASE_URL; QBO access as for `connect` (see ops/clients.py)."""
from __future__ import annotations

import contextlib
import json
from typing import Any, Iterator

import click

from qbo_pipeline.ops import render
from qbo_pipeline.state import StateStore

ENTITY_CHOICES = ("customer", "item", "vendor")  # ops.dedupe_plan.KINDS (not imported: pandas)


@contextlib.contextmanager
def _state() -> Iterator[StateStore]:
    store = StateStore.from_url()
    try:
        yield store
    finally:
        store.dispose()


@contextlib.contextmanager
def _jobsiteon(create: bool) -> Iterator[Any]:
    from qbo_pipeline.jobsiteon.db import make_engine
    from qbo_pipeline.jobsiteon.store import JobsiteOnStore

    store = JobsiteOnStore(make_engine())
    try:
        if create:
            store.create_schema()
        yield store
    finally:
        store.engine.dispose()


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


# ------------------------------------------------------------------ status

@click.command()
@click.option("--workspace", "workspace_id", help="One workspace (default: every connected one).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(workspace_id: str | None, as_json: bool) -> None:
    """Sync health: connection, last successes, inbox, errors, mapping, last nightly run."""
    from qbo_pipeline.ops.health import all_health, sync_health

    with _state() as state, _jobsiteon(create=False) as jobsiteon:
        if workspace_id:
            healths = [sync_health(state, workspace_id, jobsiteon)]
        else:
            healths = all_health(state, jobsiteon)
    if as_json:
        _echo_json(healths[0] if workspace_id else healths)
    elif workspace_id:
        click.echo(render.format_health(healths[0]))
    else:
        click.echo(render.format_health_summary(healths))


# ------------------------------------------------------------------ errors / retry

@click.group(invoke_without_command=True)
@click.option("--workspace", "workspace_id", help="Only this workspace.")
@click.option("--category", help="Only this category (auth, duplicate, not_found, validation, ...).")
@click.option("--entity", help="Only this entity (customers, invoices, ...).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def errors(ctx: click.Context, workspace_id: str | None, category: str | None, entity: str | None, as_json: bool) -> None:
    """Open sync errors (the dead-letter queue): record, cause and fix of each."""
    if ctx.invoked_subcommand is not None:
        return
    from qbo_pipeline.ops.errors import list_errors

    with _state() as state:
        letters = list_errors(state, workspace_id, category=category, entity=entity)
    if as_json:
        _echo_json(letters)
    else:
        click.echo(render.format_errors(letters))


@errors.command("resolve")
@click.argument("ids", nargs=-1, type=int, required=True)
@click.option("--note", required=True, help="Why it is resolved (kept with the error and in the sync log).")
def resolve(ids: tuple[int, ...], note: str) -> None:
    """Close errors by hand, e.g. after fixing the record outside the sync."""
    from qbo_pipeline.ops.errors import resolve_dead_letters

    try:
        with _state() as state:
            done = resolve_dead_letters(state, ids, note)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    closed = {d.id for d in done}
    click.echo(f"resolved {len(done)} error(s)" + (f": {', '.join(f'#{i}' for i in sorted(closed))}" if done else ""))
    missing = [i for i in ids if i not in closed]
    if missing:
        click.echo(f"not open (unknown or already resolved): {', '.join(f'#{i}' for i in missing)}")


@click.command()
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "all_open", is_flag=True, help="Every open error (of --workspace, if given).")
@click.option("--workspace", "workspace_id", help="Limit to this workspace.")
def retry(ids: tuple[int, ...], all_open: bool, workspace_id: str | None) -> None:
    """Queue errors for retry by the next incremental run: retry ID [ID...] | --all."""
    from qbo_pipeline.ops.errors import retry_dead_letters

    if not ids and not all_open:
        raise click.UsageError("name the error ids to retry (see qbo-pipeline errors), or pass --all")
    with _state() as state:
        result = retry_dead_letters(state, ids, all_open=all_open, workspace_id=workspace_id)
    click.echo(
        f"queued {result.queued} error(s) for retry ({result.events} inbox event(s)); "
        "the next incremental run retries them"
    )
    if result.skipped:
        click.echo(f"not queued (unknown, already resolved or another workspace): "
                   f"{', '.join(f'#{i}' for i in result.skipped)}")


# ------------------------------------------------------------------ dedupe

@click.command()
@click.option("--workspace", "workspace_id", help="The workspace whose QuickBooks company is deduplicated.")
@click.option("--entity", "kind", type=click.Choice(ENTITY_CHOICES), help="What to deduplicate.")
@click.option("--apply", "apply_", is_flag=True, help="Merge (default: only print the plan).")
@click.option("--undo", "undo_id", metavar="MERGE_ID", help="Undo one merge (ids are printed by --apply).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def dedupe(workspace_id: str | None, kind: str | None, apply_: bool, undo_id: str | None, as_json: bool) -> None:
    """Find duplicate customers/vendors/items in QBO and merge them (dry run by default)."""
    from qbo_pipeline.ops.clients import OpsConfigError, qbo_client_for
    from qbo_pipeline.ops.dedupe import DedupeError, apply_dedupe, load_merge, plan_dedupe, undo_merge
    from qbo_pipeline.qbo import QBOError

    if undo_id is None and (not workspace_id or not kind):
        raise click.UsageError("pass --workspace W --entity customer|vendor|item, or --undo MERGE_ID")
    try:
        with _state() as state, _jobsiteon(create=True) as jobsiteon:
            if undo_id is not None:
                record = load_merge(state, undo_id)
                client = qbo_client_for(state, record["workspace_id"])
                result = undo_merge(client, state, jobsiteon, undo_id, progress=True)
                if as_json:
                    _echo_json(result.__dict__)
                    return
                click.echo(
                    f"undid merge {undo_id}: {record['entity']} {record['duplicate']['qbo_id']} "
                    f"{record['duplicate']['name']!r} is back with {result.qbo_references} QBO and "
                    f"{result.jobsiteon_references} JobsiteOn reference(s) restored ({result.qbo_writes} QBO write(s))"
                )
                for problem in result.problems:
                    click.echo(f"    note: {problem}")
                return
            client = qbo_client_for(state, workspace_id)
            plan = plan_dedupe(client, state, workspace_id, kind, progress=True)
            results = apply_dedupe(client, state, jobsiteon, plan, progress=True) if apply_ and plan.merges else []
            if as_json:
                _echo_json({"plan": plan.to_dict(), "applied": apply_, "merges": [r.to_dict() for r in results]})
                return
            click.echo(render.format_plan(plan))
            if apply_:
                click.echo("")
                click.echo(render.format_merge_results(results))
            elif plan.merges:
                click.echo("\ndry run: nothing was changed; run again with --apply to merge")
    except (DedupeError, OpsConfigError, QBOError) as exc:
        raise click.ClickException(str(exc)) from None


commands = [status, errors, retry, dedupe]
