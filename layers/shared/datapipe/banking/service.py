"""End of day for one business day: wait for the inputs, close the day, reconcile, announce; and
restate closed days when a late file arrives.

A run is a sequence of steps each of which can be repeated with the same result, so a retried
invocation (Lambda's, or the next scheduled attempt) finishes what a failed one started:

1. the day is looked up in the control table: closed already -> nothing to do (an unannounced
   close is announced);
2. the inputs are gathered (SQL over the curated tables, the delivery calendar's history) and
   judged (``dependencies.decide``): blocked -> the attempt is recorded, the operators are told
   (HIGH; CRITICAL at the cut-off), ``EndOfDayBlocked``;
3. the day is closed (``ledger.close_day``), deterministically from its inputs;
4. its balances are written: the day's ``daily_balances`` object (replaced whole), a copy under
   the version, the Glue partition, the portal items (keyed by account and day);
5. the written data is reconciled (``reconcile.reconcile``) and the summary (and the exceptions,
   with the accounts) stored;
6. the close is recorded over the version it was computed from (a concurrent second run loses);
7. ``EndOfDayClosed`` / ``EndOfDayRestated`` (and on a break ``ReconciliationFailed`` + a
   CRITICAL alert) are announced, and the announcement recorded.

Nothing that people read carries an account id: alerts and events carry counts and masked ids;
the exceptions file in the curated bucket holds the accounts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from datapipe.banking import balances as files
from datapipe.banking import queries as sql
from datapipe.banking.calendar import business_days_of_partition, business_window, local_time_on
from datapipe.banking.dependencies import Decision, Missing, decide, missing_sources
from datapipe.banking.dynamo import CLOSED, DayRecord, EndOfDayControl, Ledger, PortalBalances
from datapipe.banking.interest import RateConflict, RateRow, rates_in_force
from datapipe.banking.ledger import (
    Account,
    DayClose,
    MasterConflict,
    PostingTotal,
    PriorBalance,
    close_day,
    master_accounts,
)
from datapipe.banking.money import ZERO, text, to_decimal
from datapipe.banking.reconcile import MISMATCH, Reconciliation, reconcile
from datapipe.contracts import DatasetContract
from datapipe.pii import mask_id
from datapipe.ports import EventBus, Notifier, ObjectStore

END_OF_DAY_CLOSED = "EndOfDayClosed"
END_OF_DAY_BLOCKED = "EndOfDayBlocked"
END_OF_DAY_RESTATED = "EndOfDayRestated"
RECONCILIATION_FAILED = "ReconciliationFailed"
EVERYTHING_DUE = datetime(9999, 1, 1, tzinfo=UTC)
MASKED_IN_ALERTS = 10


class Queries(Protocol):
    def run(self, sql: str) -> list[dict[str, Any]]: ...


class Catalog(Protocol):
    def table_names(self) -> set[str]: ...


class Partitions(Protocol):
    def ensure(self, values: list[str]) -> None: ...


@dataclass(frozen=True)
class Config:
    database: str
    curated_bucket: str
    time_zone: str
    cutoff_hour: int
    stage: str


@dataclass
class Ports:
    queries: Queries
    catalog: Catalog
    store: ObjectStore
    partitions: Partitions
    control: EndOfDayControl
    portal: PortalBalances
    bus: EventBus
    ops: Notifier
    metric: Callable[[str, float], None] = lambda name, value: None


@dataclass
class Inputs:
    day: date
    accounts: dict[str, Account] = field(default_factory=dict)
    snapshot_date: str | None = None
    rates: dict[str, Any] = field(default_factory=dict)
    feed_rows: int = 0
    postings: list[PostingTotal] = field(default_factory=list)
    fx: dict[str, Decimal] = field(default_factory=dict)
    prior: dict[str, PriorBalance] | None = None
    missing: list[Missing] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {
            "account_master_snapshot": self.snapshot_date,
            "accounts_in_master": len(self.accounts),
            "rates_feed_rows": self.feed_rows,
            "rates_in_force": {
                p: {
                    "annual_rate": text(t.annual_rate),
                    "day_count": t.day_count,
                    "effective_date": t.effective_date.isoformat(),
                }
                for p, t in self.rates.items()
            },
            "fx_units_per_usd": {c: text(v) for c, v in sorted(self.fx.items())},
            "previous_day": None if self.prior is None else (self.day - timedelta(days=1)).isoformat(),
        }


def _sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class EndOfDay:
    def __init__(self, config: Config, ports: Ports, transactions: DatasetContract) -> None:
        self.config = config
        self.ports = ports
        self.transactions = transactions

    # ------------------------------------------------------------------ entry points
    def run_attempt(self, day: date, at: datetime, trigger: str) -> dict[str, Any]:
        """A scheduled (or manual) attempt to close ``day``; ``at``: the attempt's time."""
        control = self.ports.control
        record = control.get(day)
        if record is not None and record.status == CLOSED:
            if not record.announced:
                self._announce_stored(record)
            return {"status": "ALREADY_CLOSED", "business_date": day.isoformat(), "version": record.version}
        ledger = control.ledger()
        if ledger is not None and day < ledger.first_day:
            return {
                "status": "BEFORE_LEDGER",
                "business_date": day.isoformat(),
                "reason": f"the ledger starts on {ledger.first_day}",
            }
        inputs = self.gather(day, ledger)
        cutoff = local_time_on(day + timedelta(days=1), self.config.cutoff_hour, self.config.time_zone)
        decision = decide(inputs.missing, at >= cutoff)
        if decision.blocked:
            return self._blocked(day, at, trigger, decision, cutoff)
        closed = close_day(day, inputs.accounts, inputs.prior, inputs.postings, inputs.rates, inputs.fx)
        version = (record.version if record else 0) + 1
        return self._write(day, closed, inputs, version, trigger, decision, reason="end of day")

    def on_published(
        self, run_id: str, partitions: list[str], rows_published: int, source_key: str
    ) -> dict[str, Any]:
        """A dataset of transactions was published: restate the closed days it has rows for."""
        base = {"run_id": run_id, "source_key": source_key}
        if rows_published <= 0:
            return {"status": "NOTHING_PUBLISHED", **base}
        ledger = self.ports.control.ledger()
        if ledger is None:
            return {"status": "NO_LEDGER", **base}
        days = self._partition_days(partitions)
        candidates = sorted(d for d in days if ledger.first_day <= d <= ledger.last_day)
        if not candidates:
            return {
                "status": "NO_CLOSED_DAY",
                "business_dates": [d.isoformat() for d in sorted(days)],
                **base,
            }
        if len(days) > 1:  # the business day is not a UTC day: which days do the rows fall in?
            candidates = [d for d in candidates if d in self._run_days(run_id, partitions)]
            if not candidates:
                return {"status": "NO_CLOSED_DAY", **base}
        first = candidates[0]
        reason = (
            f"late file {source_key} (run {run_id}): {rows_published} row(s) published for closed "
            f"business day(s) {', '.join(d.isoformat() for d in candidates)}"
        )
        return self.restate(first, reason, ledger)

    def restate(self, first: date, reason: str, ledger: Ledger | None = None) -> dict[str, Any]:
        """Recompute every closed day from ``first`` to the ledger's last; a day whose content
        changed gets a new version (with ``reason``), the others keep theirs."""
        ledger = ledger or self.ports.control.ledger()
        if ledger is None or first > ledger.last_day:
            return {"status": "NOTHING_TO_RESTATE", "business_date": first.isoformat()}
        first = max(first, ledger.first_day)
        results = []
        day = first
        while day <= ledger.last_day:
            record = self.ports.control.get(day)
            if record is None or record.status != CLOSED:
                break  # the closed chain ends here: later days were never closed
            results.append(self._restate_day(day, record, reason, ledger))
            day += timedelta(days=1)
        restated = [r for r in results if r["status"] == "RESTATED"]
        return {
            "status": "RESTATED" if restated else "UNCHANGED",
            "from": first.isoformat(),
            "reason": reason,
            "days": results,
        }

    # ------------------------------------------------------------------ inputs
    def gather(self, day: date, ledger: Ledger | None) -> Inputs:
        db, tz = self.config.database, self.config.time_zone
        q = self.ports.queries
        tables = self.ports.catalog.table_names()
        inputs = Inputs(day)
        inputs.missing.extend(self._deliveries(day))
        if ledger is not None and day > ledger.first_day:
            previous = self.ports.control.get(day - timedelta(days=1))
            if previous is None or previous.status != CLOSED:
                inputs.missing.append(
                    Missing("previous_day", f"previous business day {day - timedelta(days=1)} not closed")
                )
            else:
                inputs.prior = {
                    str(r["account_id"]): PriorBalance(
                        to_decimal(r["closing_balance"]), to_decimal(r["accrued_interest_mtd"])
                    )
                    for r in q.run(sql.balances(db, day - timedelta(days=1)))
                }
        self._master(day, tables, inputs)
        self._rates(day, tables, inputs)
        if "transactions" in tables:
            inputs.postings = [PostingTotal.from_record(r) for r in q.run(sql.postings(db, day, tz))]
        self._fx(day, tables, inputs)
        return inputs

    def _deliveries(self, day: date) -> list[Missing]:
        from datapipe.quality.service import overdue_deliveries

        overdue = overdue_deliveries(
            self.ports.store, self.config.curated_bucket, self.transactions, day, EVERYTHING_DUE
        )
        found = missing_sources(overdue)
        return [found] if found else []

    def _master(self, day: date, tables: set[str], inputs: Inputs) -> None:
        if "accounts" in tables:
            rows = self.ports.queries.run(sql.master_snapshot(self.config.database, day))
            try:
                inputs.accounts = master_accounts(rows)
            except MasterConflict as exc:
                inputs.missing.append(Missing("account_master", f"account master snapshot unusable: {exc}"))
                return
            inputs.snapshot_date = str(rows[0]["snapshot_date"])[:10] if rows else None
        if not inputs.accounts:
            inputs.missing.append(
                Missing("account_master", f"no account master snapshot as of {day} or later")
            )

    def _rates(self, day: date, tables: set[str], inputs: Inputs) -> None:
        rows = []
        if "interest_rates" in tables:
            rows = [
                RateRow(
                    _day(r["feed_date"]),
                    str(r["product_code"]),
                    to_decimal(r["annual_rate"]),
                    str(r["day_count"]),
                    _day(r["effective_date"]),
                )
                for r in self.ports.queries.run(sql.rates_feed(self.config.database, day))
            ]
        inputs.feed_rows = len(rows)
        if not rows:
            inputs.missing.append(Missing("interest_rates", f"no interest rates feed for {day}"))
            return
        try:
            inputs.rates = rates_in_force(rows, day)
        except RateConflict as exc:
            inputs.missing.append(Missing("interest_rates", f"interest rates feed for {day} unusable: {exc}"))
            return
        wanted = sorted(
            {a.product_code for a in inputs.accounts.values() if a.accrues_interest and a.open_on(day)}
        )
        lacking = [p for p in wanted if p not in inputs.rates]
        if lacking:
            inputs.missing.append(
                Missing("interest_rates", f"no rate in force on {day} for product(s) {', '.join(lacking)}")
            )

    def _fx(self, day: date, tables: set[str], inputs: Inputs) -> None:
        needed: set[str] = set()
        for p in inputs.postings:
            account = inputs.accounts.get(p.account_id)
            if account is not None and account.currency != p.currency:
                needed |= {account.currency, p.currency}
        needed.discard("USD")
        if not needed:
            return
        if "fx_rates" in tables:
            for r in self.ports.queries.run(sql.fx_rates(self.config.database, day, needed)):
                inputs.fx[str(r["currency"])] = to_decimal(r["units_per_usd"])
        lacking = sorted(needed - set(inputs.fx))
        if lacking:
            inputs.missing.append(
                Missing("fx_rates", f"no fx_rates reference rate for {', '.join(lacking)} on or before {day}")
            )

    def _partition_days(self, partitions: list[str]) -> set[date]:
        out: set[date] = set()
        for p in partitions:
            value = p.split("=", 1)[-1]
            out.update(business_days_of_partition(date.fromisoformat(value), self.config.time_zone))
        return out

    def _run_days(self, run_id: str, partitions: list[str]) -> set[date]:
        values = [p.split("=", 1)[-1] for p in partitions]
        out: set[date] = set()
        for r in self.ports.queries.run(sql.run_days(self.config.database, run_id, values)):
            first, last = _moment(r["first_time"]), _moment(r["last_time"])
            d = first.astimezone(_zone(self.config.time_zone)).date()
            while d <= last.astimezone(_zone(self.config.time_zone)).date():
                out.add(d)
                d += timedelta(days=1)
        return out

    # ------------------------------------------------------------------ outcomes
    def _blocked(
        self, day: date, at: datetime, trigger: str, decision: Decision, cutoff: datetime
    ) -> dict[str, Any]:
        missing = [m.to_dict() for m in decision.missing]
        attempts = self.ports.control.record_blocked(day, missing, at, trigger)
        final = at >= cutoff  # past the cut-off only hard inputs block: no automatic attempt will fix it
        detail = {
            "business_date": day.isoformat(),
            "status": "BLOCKED",
            "attempt": attempts,
            "trigger": trigger,
            "attempted_at": at.isoformat(),
            "cutoff_at": cutoff.isoformat(),
            "final": final,
            "missing": missing,
            "reason": decision.reason(),
            "retry": "the next scheduled attempt"
            if not final
            else "none scheduled: inputs must be supplied, then rerun",
        }
        severity = "CRITICAL" if final else "HIGH"
        self.ports.ops.notify(
            f"[{self.config.stage}] end of day {day} blocked: {decision.reason()}"[:100], detail, severity
        )
        self.ports.bus.put(END_OF_DAY_BLOCKED, detail)
        self.ports.metric("EndOfDayBlocked", 1)
        return detail

    def _write(
        self,
        day: date,
        closed: DayClose,
        inputs: Inputs,
        version: int,
        trigger: str,
        decision: Decision | None,
        reason: str,
        previous: DayRecord | None = None,
        changed_accounts: set[str] | None = None,
    ) -> dict[str, Any]:
        cfg, p = self.config, self.ports
        restated = previous is not None
        computed_at = datetime.now(UTC).isoformat()
        body = files.to_parquet(closed.rows, version, restated, computed_at)
        prefix = files.version_prefix(day, version)
        p.store.put(cfg.curated_bucket, prefix + "balances.parquet", body, "application/vnd.apache.parquet")
        p.store.put(cfg.curated_bucket, files.current_key(day), body, "application/vnd.apache.parquet")
        p.partitions.ensure([day.isoformat()])
        portal_rows = [r for r in closed.rows if changed_accounts is None or r.account_id in changed_accounts]
        p.portal.write([files.portal_item(r, version, computed_at) for r in portal_rows])
        recon = self.reconcile(day, closed, inputs.prior is not None)
        exceptions = {
            "business_date": day.isoformat(),
            "version": version,
            "unposted": [u.to_dict() for u in closed.unposted],
            "breaks": [b.to_dict() for b in recon.breaks],
        }
        exceptions_body = json.dumps(exceptions, indent=1).encode()
        p.store.put(cfg.curated_bucket, prefix + "exceptions.json", exceptions_body, "application/json")
        start, end = business_window(day, cfg.time_zone)
        summary = {
            "business_date": day.isoformat(),
            "version": version,
            "restated": restated,
            "previous_version": previous.version if previous else None,
            "reason": reason,
            "trigger": trigger,
            "time_zone": cfg.time_zone,
            "window": {"start": start.isoformat(), "end": end.isoformat()},
            "first_day_of_ledger": closed.first_day,
            "inputs": inputs.describe(),
            "accounts": len(closed.rows),
            "transactions": sum(r.transactions for r in closed.rows),
            "journal": {c: line.to_dict() for c, line in closed.journal.items()},
            "unposted_transactions": sum(u.transactions for u in closed.unposted),
            "totals": closed.totals(),
            "interest": _interest(closed),
            "reconciliation": recon.summary(),
            "waived": [m.to_dict() for m in (decision.waived if decision else ())],
            "changed_accounts": None if changed_accounts is None else len(changed_accounts),
            "digest": closed.digest,
            "location": {"bucket": cfg.curated_bucket, "prefix": prefix},
            "checksums": {
                "balances.parquet": _sha256(body),
                "exceptions.json": _sha256(exceptions_body),
            },
        }
        summary_body = json.dumps(summary, indent=1, default=str).encode()
        p.store.put(cfg.curated_bucket, prefix + "summary.json", summary_body, "application/json")
        fields = {
            "digest": closed.digest,
            "reconciliation": recon.status,
            "summary_key": prefix + "summary.json",
            "accounts": len(closed.rows),
            "transactions": summary["transactions"],
            "reason": reason,
            "restatements": ((previous.detail.get("restatements") or []) if previous else [])
            + ([{"version": version, "reason": reason, "at": computed_at}] if restated else []),
        }
        if not p.control.record_closed(day, version, fields):
            return {"status": "ALREADY_CLOSED", "business_date": day.isoformat(), "version": version}
        p.control.extend_ledger(day)
        self._announce(summary, recon)
        p.control.mark_announced(day, version)
        return {
            "status": "RESTATED" if restated else "CLOSED",
            **{k: summary[k] for k in ("business_date", "version", "accounts", "transactions", "interest")},
            "reconciliation": recon.status,
            "waived": summary["waived"],
        }

    def reconcile(self, day: date, closed: DayClose, has_previous: bool) -> Reconciliation:
        db, tz, q = self.config.database, self.config.time_zone, self.ports.queries
        rows = q.run(sql.balances(db, day))
        previous = q.run(sql.balances(db, day - timedelta(days=1))) if has_previous else None
        published = (
            {str(r["currency"]): r for r in q.run(sql.published_totals(db, day, tz))}
            if "transactions" in self.ports.catalog.table_names()
            else {}
        )
        accruals = {
            str(r["account_id"]): to_decimal(r["accrued"]) for r in q.run(sql.month_accruals(db, day))
        }
        return reconcile(day, rows, previous, published, closed.journal, closed.unposted, accruals)

    def _restate_day(self, day: date, record: DayRecord, reason: str, ledger: Ledger) -> dict[str, Any]:
        inputs = self.gather(day, ledger)
        hard = [m for m in inputs.missing if m.hard]
        if hard:
            detail = {
                "business_date": day.isoformat(),
                "reason": reason,
                "missing": [m.to_dict() for m in hard],
            }
            self.ports.ops.notify(
                f"[{self.config.stage}] restatement of {day} impossible: inputs missing", detail, "CRITICAL"
            )
            return {"status": "NOT_RESTATED", **detail}
        closed = close_day(day, inputs.accounts, inputs.prior, inputs.postings, inputs.rates, inputs.fx)
        if closed.digest == record.digest:
            return {"status": "UNCHANGED", "business_date": day.isoformat(), "version": record.version}
        current = {
            str(r["account_id"]): r for r in self.ports.queries.run(sql.balances(self.config.database, day))
        }
        changed = {r.account_id for r in closed.rows if _differs(r, current.get(r.account_id))}
        changed |= set(current) - {r.account_id for r in closed.rows}
        return self._write(
            day,
            closed,
            inputs,
            record.version + 1,
            "restatement",
            None,
            reason,
            previous=record,
            changed_accounts=changed,
        )

    def _announce(self, summary: dict[str, Any], recon: Reconciliation | None = None) -> None:
        p, day = self.ports, summary["business_date"]
        p.bus.put(END_OF_DAY_RESTATED if summary["restated"] else END_OF_DAY_CLOSED, summary)
        p.metric("EndOfDayRestated" if summary["restated"] else "EndOfDayClosed", 1)
        if summary["waived"]:
            p.ops.notify(
                f"[{self.config.stage}] end of day {day} closed at the cut-off without some sources",
                {"business_date": day, "version": summary["version"], "waived": summary["waived"]},
                "HIGH",
            )
        if summary["restated"]:
            p.ops.notify(
                f"[{self.config.stage}] end of day {day} restated (v{summary['version']})",
                {
                    k: summary[k]
                    for k in ("business_date", "version", "previous_version", "reason", "changed_accounts")
                },
                "HIGH",
            )
        if summary["reconciliation"]["status"] == MISMATCH:
            accounts = recon.accounts if recon else []
            detail = {
                "business_date": day,
                "version": summary["version"],
                "reconciliation": summary["reconciliation"],
                "accounts": [mask_id(a) for a in accounts[:MASKED_IN_ALERTS]],
                "more_accounts": max(0, len(accounts) - MASKED_IN_ALERTS),
                "exceptions": {
                    "bucket": summary["location"]["bucket"],
                    "key": summary["location"]["prefix"] + "exceptions.json",
                },
                "consequence": f"the regulatory report of {day} is blocked until the day reconciles",
            }
            p.ops.notify(
                f"[{self.config.stage}] reconciliation of {day} failed: "
                f"{summary['reconciliation']['breaks']} break(s)",
                detail,
                "CRITICAL",
            )
            p.bus.put(RECONCILIATION_FAILED, detail)
            p.metric("ReconciliationMismatch", 1)

    def _announce_stored(self, record: DayRecord) -> None:
        """A close recorded but not announced (the run stopped in between): announce it now."""
        if not record.summary_key:
            return
        summary = json.loads(self.ports.store.get(self.config.curated_bucket, record.summary_key).body)
        recon = None
        if summary["reconciliation"]["status"] == MISMATCH:
            prefix = summary["location"]["prefix"]
            exceptions = json.loads(
                self.ports.store.get(self.config.curated_bucket, prefix + "exceptions.json").body
            )
            recon = Reconciliation(record.business_date)
            from datapipe.banking.reconcile import Break

            recon.breaks = [Break(**b) for b in exceptions["breaks"]]
        self._announce(summary, recon)
        self.ports.control.mark_announced(record.business_date, record.version)


_COMPARED = (
    "opening_balance",
    "transactions",
    "debits",
    "credits",
    "movement",
    "interest_accrued",
    "accrued_interest_mtd",
    "interest_credited",
    "closing_balance",
)


def _differs(row: Any, current: dict[str, Any] | None) -> bool:
    if current is None:
        return True
    return any(to_decimal(getattr(row, k)) != to_decimal(current.get(k)) for k in _COMPARED)


def _interest(closed: DayClose) -> dict[str, Any]:
    out: dict[str, dict[str, Decimal]] = {}
    for r in closed.rows:
        if r.interest_accrued or r.interest_credited:
            t = out.setdefault(r.currency, {"accrued": ZERO, "credited": ZERO, "accounts": ZERO})
            t["accrued"] += r.interest_accrued
            t["credited"] += r.interest_credited
            t["accounts"] += 1
    return {
        c: {"accrued": text(v["accrued"]), "credited": text(v["credited"]), "accounts": int(v["accounts"])}
        for c, v in sorted(out.items())
    }


def _day(value: Any) -> date:
    from datapipe.banking.ledger import _date

    return _date(value)


def _moment(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if hasattr(moment, "to_pydatetime"):
        moment = moment.to_pydatetime()
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _zone(name: str) -> Any:
    from datapipe.banking.calendar import zone

    return zone(name)
