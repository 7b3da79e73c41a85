"""`qbo-pipeline demo` (`make demo`): the product end to end on the embedded default.

config.py        data dir, ports, environment, the kept token key
processes.py     child processes in their own process groups, health waits, stop-all
services.py      step 1: emulator, ingest service (receiver + relay), Dagster UI and daemon
setup.py         steps 2-3: seeding both sides, the OAuth connect, webhooks
commands.py      `qbo-pipeline ...` subcommands run as a user would
initial_sync.py  step 4: the initial sync and the dead letters it left
operator.py      step 5: fixes through the product's own tools, then retry
converge.py      waiting for the pipeline to settle (inbox drained, no run in flight)
live.py          step 6: changes on each side, timed until they land on the other
qbo_user.py      QBO as a bookkeeper sees it (plain API calls with the workspace's token)
mirrors.py       full mirrors of both sides and reconcile() over them (read-only)
summary.py       step 7: counts, links, conflicts, dead letters, residual, duplicates
runner.py, flow.py  the order of it all
"""
