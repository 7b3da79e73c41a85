"""The JobsiteOn side: its schema (schema.py), the store the integration reads and writes
(store.py, with the change feed in feed.py), invoice math (money.py) and the demo books
(demo/). The contract is docs/jobsiteon-schema.md."""
