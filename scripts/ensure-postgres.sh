#!/usr/bin/env bash
# Makes sure the PostgreSQL server the tests use is up; says plainly when it cannot be.
# Tests that need it then fail in CI (CI=true) and are skipped, with the reason, elsewhere.
host=${QBO_TEST_PG_HOST:-127.0.0.1}; port=${QBO_TEST_PG_PORT:-5432}
up() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }
if up; then exit 0; fi
if command -v pg_ctlcluster >/dev/null 2>&1; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -n 1)
  [ -n "$version" ] && pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null
  for _ in $(seq 1 20); do up && exit 0; sleep 0.5; done
fi
echo "NOTE: no PostgreSQL at $host:$port — the PostgreSQL tests cannot run on this machine" >&2
echo "      (they are reported as skipped; in CI they fail instead)." >&2
exit 0
