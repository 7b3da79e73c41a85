"""`qbo-pipeline demo` (`make demo`): the product end to end on the embedded default.

config.py      data dir, ports, environment, the kept token key
processes.py   child processes in their own process groups, health waits, stop-all
services.py    emulator, ingest service (receiver + JobsiteOn relay), Dagster UI and daemon
relay.py       a relay thread while `webhooks serve` cannot relay by itself
setup.py       seeding both sides, the OAuth connect, webhooks
commands.py    `qbo-pipeline ...` subcommands run as a user would
initial_sync.py  step 4; operator.py  step 5 (fixes through the product's tools);
live.py        step 6 (changes on each side, timed until they land on the other);
summary.py     step 7; runner.py / flow.py  the order of it all
"""
