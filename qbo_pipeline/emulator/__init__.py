"""A local QuickBooks Online (v3 Accounting API) emulator.

Layout (moto-style: state and business rules apart from the wire format):
  clock, settings          time source and knobs
  models                   per-realm state (stores, indices, change log, counters)
  entities, computations,  entity specs, server-computed fields, validation rules
  validation, operations   and the create/update/delete/void/query/cdc/batch logic
  errors, responses        Fault bodies and JSON/XML rendering
  routes, oauth, control   HTTP endpoints (QBO API, OAuth 2.0, /_emulator control API)
  throttle, faults         rate limits and fault injection
  persistence, server      optional JSON persistence; EmulatorServer (uvicorn in a thread)
"""
from __future__ import annotations
