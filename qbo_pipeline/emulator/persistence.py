"""Optional persistence of the whole emulator state to one JSON file (settings.persist_path).

Writes happen on a background thread at most once a second after a change, and on shutdown;
the file is replaced atomically. Indices are rebuilt on load.
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from . import links
from .entities import SPECS
from .models import Company, EmulatorBackend, Record, Tombstone
from .responses import dumps, loads

log = logging.getLogger(__name__)
VERSION = 1


def dump_company(company: Company) -> dict[str, Any]:
    with company.lock:
        return {
            "realm_id": company.realm_id, "name": company.name, "created_at": company.created_at.isoformat(),
            "id_counters": company.id_counters, "seq": company.seq, "doc_counters": company.doc_counters,
            "address_counter": company.address_counter, "defaults": company.defaults,
            "overrides": company.overrides, "replay": {k: [v[0], v[1].decode("utf-8"), v[2]]
                                                       for k, v in company.replay.items()},
            "stores": {name: [{"data": r.data, "created": r.created.isoformat(), "updated": r.updated.isoformat(),
                               "created_seq": r.created_seq, "seq": r.seq} for r in store.values()]
                       for name, store in company.stores.items()},
            "tombstones": {name: {k: [t.deleted.isoformat(), t.seq] for k, t in tombs.items()}
                           for name, tombs in company.tombstones.items() if tombs},
        }


def load_company(data: dict[str, Any], tz: Any) -> Company:
    company = Company(data["realm_id"], data["name"], tz, datetime.fromisoformat(data["created_at"]))
    company.id_counters = dict(data["id_counters"])
    company.seq = int(data["seq"])
    company.doc_counters = dict(data["doc_counters"])
    company.address_counter = int(data["address_counter"])
    company.defaults = dict(data["defaults"])
    company.overrides = dict(data.get("overrides", {}))
    company.replay = {k: (int(v[0]), v[1].encode("utf-8"), v[2]) for k, v in data.get("replay", {}).items()}
    for name, rows in data["stores"].items():
        if name not in SPECS:
            continue
        store = company.stores[name]
        for row in rows:
            record = Record(row["data"], datetime.fromisoformat(row["created"]), int(row["created_seq"]))
            record.updated = datetime.fromisoformat(row["updated"])
            record.seq = int(row["seq"])
            store[record.data["Id"]] = record
    for name, tombs in data.get("tombstones", {}).items():
        for key, (deleted, seq) in tombs.items():
            company.tombstones[name][key] = Tombstone(datetime.fromisoformat(deleted), int(seq))
    rebuild_indices(company)
    return company


def rebuild_indices(company: Company) -> None:
    for entity in ("Customer", "Vendor"):
        for record in company.stores[entity].values():
            company.display_names[record.data["DisplayName"].casefold()] = (entity, record.data["Id"])
    for record in company.stores["Item"].values():
        company.item_names[record.data["FullyQualifiedName"].casefold()] = record.data["Id"]
    for entity, spec in SPECS.items():
        if spec.doc_group:
            index = company.doc_numbers.setdefault(entity, {})
            for record in company.stores[entity].values():
                if record.data.get("DocNumber"):
                    index.setdefault(record.data["DocNumber"], set()).add(record.data["Id"])
    for record in company.stores["Payment"].values():
        for key, amount in links.payment_applications(record.data).items():
            company.applied.setdefault(key, {})[record.data["Id"]] = amount
    for record in company.stores["Deposit"].values():
        for payment_id in links.deposit_links(record.data):
            company.deposited[payment_id] = record.data["Id"]


def save(backend: EmulatorBackend, path: str | os.PathLike[str]) -> None:
    state = {"version": VERSION, "clock_offset": backend.clock.offset_seconds,
             "last_created": backend._last_created,  # noqa: SLF001 - same package
             "companies": [dump_company(c) for c in backend.iter_companies()],
             "tokens": backend.tokens.dump()}
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(dumps(state))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(backend: EmulatorBackend, path: str | os.PathLike[str]) -> bool:
    target = Path(path)
    if not target.exists():
        return False
    state = loads(target.read_bytes())
    if state.get("version") != VERSION:
        raise ValueError(f"{target}: unsupported emulator state version {state.get('version')}; "
                         "delete the file or start without --persist")
    backend.clock.set_offset(float(state.get("clock_offset", 0)))
    for data in state.get("companies", []):
        company = load_company(data, backend.tz)
        backend.companies[company.realm_id] = company
    backend._last_created = state.get("last_created")  # noqa: SLF001
    backend.tokens.load(state.get("tokens", {}))
    return True


class Persister:
    """Saves the backend to `path` shortly after changes, and once more on stop()."""

    def __init__(self, backend: EmulatorBackend, path: str) -> None:
        self.backend = backend
        self.path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="qbo-emulator-persist", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        dirty = self.backend._dirty  # noqa: SLF001
        while not self._stop.is_set():
            if dirty.wait(timeout=0.5) and not self._stop.is_set():
                dirty.clear()
                self._save()
                self._stop.wait(1.0)

    def _save(self) -> None:
        try:
            save(self.backend, self.path)
        except Exception:  # noqa: BLE001 - keep serving; the next change retries
            log.exception("could not save emulator state to %s", self.path)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._save()
