"""The API's behaviour on one company: create, read, full/sparse update, delete, void, query,
CDC and batch. Returns plain payloads (dicts) or raises QBOFault; the wire layer adds `time`."""
from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

from . import clock as clockmod
from . import errors
from .entities import SPECS, EntitySpec, spec_for
from .handlers import Handler
from .models import Company, EmulatorBackend, Record
from .names import CustomerHandler, ItemHandler, VendorHandler
from .transactions import HANDLERS_BY_ENTITY
from .validation import Context, blank, check_properties, clean

HANDLERS: dict[str, Handler] = {"Customer": CustomerHandler(), "Vendor": VendorHandler(), "Item": ItemHandler(),
                                **HANDLERS_BY_ENTITY}
# Fields a client may set on create although later they are server-maintained.
CREATE_KEEP = {"Customer": frozenset({"Balance"}), "Vendor": frozenset({"Balance"})}


def query_module():
    """qbo_pipeline.emulator.query (the query language) is written separately; import lazily."""
    return importlib.import_module("qbo_pipeline.emulator.query")


class Operations:
    def __init__(self, backend: EmulatorBackend, company: Company) -> None:
        self.backend = backend
        self.company = company

    def context(self, **values: Any) -> Context:
        values.setdefault("moment", self.backend.clock.now())
        values.setdefault("strict", bool(self.backend.setting(self.company, "strict_properties")))
        return Context(**values)

    # ---- writes --------------------------------------------------------------------------
    def write(self, entity: str, body: Any, ctx: Context, *, operation: str | None = None,
              include: tuple[str, ...] = ()) -> dict[str, Any]:
        """POST /{entity}[?operation=delete|void|update][&include=void]."""
        spec = SPECS[entity]
        if not isinstance(body, dict):
            raise errors.invalid_request(f"The request body must be a JSON {entity} object.")
        op = (operation or "").lower()
        if op == "delete":
            return self.delete(spec, body, ctx)
        if op == "void" or "void" in include:
            return self.void(spec, body, ctx)
        if op not in ("", "create", "update"):
            raise errors.unsupported_operation(operation or "")
        if spec.kind == "readonly":
            raise errors.unsupported_operation("Update" if "Id" in body else "Create")
        if not blank(body.get("Id")):
            return self.update(spec, body, ctx)
        return self.create(spec, body, ctx)

    def create(self, spec: EntitySpec, body: dict[str, Any], ctx: Context) -> dict[str, Any]:
        company = self.company
        check_properties(spec, body, ctx.strict)
        fields = clean(spec, body, keep=CREATE_KEEP.get(spec.name, frozenset()))
        handler = HANDLERS[spec.name]
        with company.lock:
            data = handler.build(company, ctx, fields, None)
            record = company.insert(spec.name, data, ctx.moment)
            handler.committed(company, ctx, None, record)
            result = company.render(spec.name, record.data)
        self._changed(spec.name, record.data["Id"], "Create", ctx)
        return result

    def update(self, spec: EntitySpec, body: dict[str, Any], ctx: Context) -> dict[str, Any]:
        company = self.company
        check_properties(spec, body, ctx.strict)
        handler = HANDLERS[spec.name]
        sparse = body.get("sparse") in (True, "true", "True")
        with company.lock:
            record = self._existing(spec, body, ctx)
            fields = clean(spec, body)
            if sparse:
                base = clean(spec, record.data)
                base.update(fields)
                fields = {k: v for k, v in base.items() if not blank(v)}
            else:
                fields = {**handler.preserved(record), **fields}
            data = handler.build(company, ctx, fields, record)
            old = record.data
            company.replace(spec.name, record, data, ctx.moment)
            handler.committed(company, ctx, old, record)
            result = company.render(spec.name, record.data)
        self._changed(spec.name, record.data["Id"], "Update", ctx)
        return result

    def delete(self, spec: EntitySpec, body: dict[str, Any], ctx: Context) -> dict[str, Any]:
        if not spec.deletable:
            raise errors.unsupported_operation("Delete")
        company = self.company
        handler = HANDLERS[spec.name]
        with company.lock:
            record = self._existing(spec, body, ctx)
            handler.check_delete(company, record)
            old = record.data
            company.remove(spec.name, old["Id"], ctx.moment)
            handler.committed(company, ctx, old, None)
        self._changed(spec.name, old["Id"], "Delete", ctx)
        return {"status": "Deleted", "domain": "QBO", "Id": old["Id"]}

    def void(self, spec: EntitySpec, body: dict[str, Any], ctx: Context) -> dict[str, Any]:
        if not spec.voidable:
            raise errors.unsupported_operation("Void")
        company = self.company
        handler = HANDLERS[spec.name]
        with company.lock:
            record = self._existing(spec, body, ctx)
            data = handler.void(company, ctx, record)
            old = record.data
            company.replace(spec.name, record, data, ctx.moment)
            handler.committed(company, ctx, old, record)
            result = company.render(spec.name, record.data)
        self._changed(spec.name, record.data["Id"], "Void", ctx)
        return result

    def _existing(self, spec: EntitySpec, body: dict[str, Any], ctx: Context) -> Record:
        if blank(body.get("Id")):
            raise errors.required("Id")
        record = self.company.get(spec.name, str(body["Id"]).strip(), ctx.horizon)
        if record is None:
            raise errors.object_not_found()
        from .validation import sync_token

        sync_token(body, record)
        return record

    def _changed(self, entity: str, entity_id: str, operation: str, ctx: Context) -> None:
        self.backend.mark_dirty()
        if ctx.notify:
            self.backend.notify(self.company, entity, entity_id, operation, ctx.moment)

    # ---- reads ---------------------------------------------------------------------------
    def read(self, entity: str, entity_id: str) -> dict[str, Any]:
        with self.company.lock:
            if entity == "CompanyInfo":
                entity_id = "1"
            record = self.company.get(entity, entity_id)
            if record is None:
                raise errors.object_not_found()
            return self.company.render(entity, record.data)

    def query(self, text: str, *, horizon: int | None = None) -> dict[str, Any]:
        module = query_module()
        try:
            parsed = module.parse(text)
        except module.QueryError as exc:
            raise errors.query_error(exc.code, exc.message, exc.detail) from None
        spec = spec_for(str(parsed.entity))
        if spec is None:
            raise errors.query_error("4000", "Error parsing query",
                                     f"QueryParserError: Invalid entity name: {parsed.entity}. "
                                     "Check the spelling of the entity after FROM.")
        company = self.company
        with company.lock:
            store = company.stores[spec.name]
            if horizon is None:
                rows = [record.data for record in store.values()]
            else:
                rows = [record.data for record in store.values() if record.created_seq <= horizon]
            try:
                result = module.execute(parsed, rows, name_list=spec.name_list)
            except module.QueryError as exc:
                raise errors.query_error(exc.code, exc.message, exc.detail) from None
            if parsed.count:
                return {"totalCount": result.total}
            page = [company.render(spec.name, row) for row in result.rows]
        if spec.name == "Item":
            extra = {str(x).casefold() for x in (getattr(parsed, "select_extra", None) or [])}
            if "sku" not in extra:
                for row in page:
                    row.pop("Sku", None)
        if not page:
            return {}
        return {spec.name: page, "startPosition": parsed.start_position, "maxResults": len(page)}

    def cdc(self, entities: str | None, changed_since: str | None) -> dict[str, Any]:
        if blank(entities):
            raise errors.required("entities")
        if blank(changed_since):
            raise errors.required("changedSince")
        company = self.company
        try:
            since = clockmod.parse_moment(changed_since, company.tz)
        except ValueError:
            raise errors.invalid_request(f"changedSince is not an ISO-8601 date or date-time: {changed_since}",
                                         "changedSince") from None
        now = self.backend.clock.now()
        days = int(self.backend.settings.cdc_lookback_days)
        if since < now - timedelta(days=days):
            raise errors.QBOFault(
                "4001", "Invalid query",
                f"QueryValidationError: changedSince {changed_since} is more than {days} days in the past. "
                f"Change data capture looks back at most {days} days; read the entities with a query instead.",
                "changedSince")
        specs: list[EntitySpec] = []
        for name in str(entities).split(","):
            if not name.strip():
                continue
            spec = spec_for(name)
            if spec is None or not spec.cdc:
                raise errors.invalid_request(f"Change data capture is not supported for entity {name.strip()}.",
                                             "entities")
            if spec not in specs:
                specs.append(spec)
        cap = int(self.backend.setting(company, "cdc_cap"))
        with company.lock:
            changed: list[tuple[Any, int, str, Any]] = []
            for spec in specs:
                for record in company.stores[spec.name].values():
                    if record.updated >= since:
                        changed.append((record.updated, record.seq, spec.name, record))
                for entity_id, tomb in company.tombstones[spec.name].items():
                    if tomb.deleted >= since:
                        changed.append((tomb.deleted, tomb.seq, spec.name, entity_id))
            changed.sort(key=lambda item: (item[0], item[1]))
            grouped: dict[str, list[dict[str, Any]]] = {}
            for moment, _seq, name, item in changed[:max(cap, 0)]:
                if isinstance(item, Record):
                    obj = company.render(name, item.data)
                else:
                    obj = {"domain": "QBO", "status": "Deleted", "Id": item,
                           "MetaData": {"LastUpdatedTime": clockmod.meta_time(moment, company.tz)}}
                grouped.setdefault(name, []).append(obj)
        responses: list[dict[str, Any]] = []
        for spec in specs:
            objects = grouped.get(spec.name)
            if objects:
                responses.append({spec.name: objects, "startPosition": 1, "maxResults": len(objects)})
        return {"CDCResponse": [{"QueryResponse": responses or [{}]}]}

    # ---- batch ---------------------------------------------------------------------------
    def batch(self, body: Any, *, allow_duplicate_docnum: bool = False) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("BatchItemRequest"), list):
            raise errors.required("BatchItemRequest")
        items = body["BatchItemRequest"]
        limit = int(self.backend.setting(self.company, "batch_max_items"))
        if len(items) > limit:
            raise errors.QBOFault("1040", "Batch size exceeds allowed limit",
                                  f"Batch size exceeds allowed limit: {len(items)} items were sent, the maximum "
                                  f"is {limit}. Split the batch.", "BatchItemRequest")
        responses = []
        with self.company.lock:
            horizon = self.company.seq  # items see only what existed before the batch started
            for item in items:
                responses.append(self._batch_item(item, horizon, allow_duplicate_docnum))
        return {"BatchItemResponse": responses}

    def _batch_item(self, item: Any, horizon: int, allow_duplicate_docnum: bool) -> dict[str, Any]:
        if not isinstance(item, dict):
            return {"Fault": errors.invalid_request("Each BatchItemRequest must be an object").fault()}
        bid = item.get("bId")
        response: dict[str, Any] = {"bId": bid}
        try:
            if "Query" in item:
                response["QueryResponse"] = self.query(str(item["Query"]), horizon=horizon)
                return response
            entity = next((SPECS[spec.name].name for key in item if (spec := spec_for(key)) is not None), None)
            if entity is None:
                raise errors.invalid_request("The batch item names no entity object.", "BatchItemRequest")
            payload = item[next(key for key in item if spec_for(key) is not None)]
            operation = str(item.get("operation") or "").lower()
            options = str(item.get("optionsData") or "").lower()
            ctx = self.context(horizon=horizon, allow_duplicate_docnum=allow_duplicate_docnum
                               or "allowduplicatedocnum" in options)
            if operation == "create":
                if isinstance(payload, dict) and not blank(payload.get("Id")):
                    raise errors.invalid_request("A create item must not carry an Id.", "Id")
                result = self.write(entity, payload, ctx)
            elif operation == "update":
                if isinstance(payload, dict) and blank(payload.get("Id")):
                    raise errors.required("Id")
                result = self.write(entity, payload, ctx, include=("void",) if "void" in options else ())
            elif operation in ("delete", "void"):
                result = self.write(entity, payload, ctx, operation=operation)
            else:
                raise errors.invalid_request(f"Unsupported batch operation {item.get('operation')!r}; use create, "
                                             "update, delete or a Query item.", "operation")
            response[entity] = result
        except errors.QBOFault as fault:
            response["Fault"] = fault.fault()
        return response
