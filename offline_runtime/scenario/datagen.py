"""Realistic, seeded raw files for one business day: card/POS transactions and stock movements.

Each file knows how many bad rows it carries and what the pipeline should decide, so the demo
and the end-to-end tests can check outcomes instead of eyeballing them.
"""

from __future__ import annotations

import gzip
import io
import json
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import BinaryIO

TX_HEADER = (
    "transaction_id,transaction_type,original_transaction_id,account_id,card_id,customer_id,store_id,"
    "merchant,merchant_category,amount,currency,channel,location_country,location_state,home_country,"
    "home_state,account_type,event_time"
)
TX_COLUMNS = TX_HEADER.split(",")
INV_HEADER = "movement_id,store_id,product_id,quantity_change,reason,reference_id,event_time"
STATES = ["CA", "NY", "TX", "FL", "IL", "WA", "AZ", "NV", "GA", "MA", "CO", "OR", "NJ", "PA", "OH"]
STATE_OFFSET_MINUTES = {
    "CA": -480,
    "WA": -480,
    "OR": -480,
    "NV": -480,
    "AZ": -420,
    "CO": -420,
    "TX": -360,
    "IL": -360,
    "NY": -300,
    "FL": -300,
    "GA": -300,
    "MA": -300,
    "NJ": -300,
    "PA": -300,
    "OH": -300,
}  # standard time (a November day)
MERCHANTS = {
    "GROCERY": ["FreshMart", "GreenBasket", "DailyFoods"],
    "FUEL": ["QuickFuel", "RoadStop"],
    "PHARMACY": ["CareRx", "HealthPlus"],
    "RESTAURANT": ["Bistro 21", "Noodle Bar", "Taco Town"],
    "APPAREL": ["StyleHub", "DenimWorks"],
    "ELECTRONICS": ["GadgetWorld", "TechZone"],
    "JEWELRY": ["GoldCrest"],
    "TRAVEL": ["SkyFares", "RailPass"],
    "GAMBLING": ["LuckyStar Casino"],
}
CATEGORY_WEIGHTS = [40, 12, 8, 15, 8, 8, 2, 5, 2]
ACCOUNT_TYPES = ["checking", "savings", "credit"]
# foreign cardholders: (country, currency, minor units) -- JPY has no decimals, BHD three
FOREIGN = [
    ("GB", "GBP", 2),
    ("CA", "CAD", 2),
    ("MX", "MXN", 2),
    ("JP", "JPY", 0),
    ("DE", "EUR", 2),
    ("FR", "EUR", 2),
    ("BH", "BHD", 3),
    ("CH", "CHF", 2),
]
FX_CURRENCIES = ["EUR", "GBP", "JPY", "CAD", "MXN", "CHF", "BHD", "AUD", "CNY", "INR", "BRL", "KRW", "SEK"]


@dataclass
class RawFile:
    key: str
    body: bytes
    rows: int  # data rows written (bad ones included); 0 when the file is unreadable
    bad_rows: int  # rows the ingest must reject
    expect: str  # publish | enhanced_publish | gate_quarantine | file_quarantine
    note: str


@dataclass
class Account:
    account_id: str
    customer_id: str
    card_id: str
    home_state: str
    account_type: str
    home_country: str = "US"
    currency: str = "USD"
    minor_units: int = 2


def _accounts(rng: random.Random, n: int) -> list[Account]:
    """Home accounts, 4% of them foreign cardholders (another country, currency and minor units)."""
    out = []
    for i in range(n):
        acc = f"ACC{i:06d}"
        account = Account(
            acc,
            f"CUS{i:06d}",
            f"CARD{i:06d}",
            rng.choice(STATES),
            rng.choices(ACCOUNT_TYPES, [60, 15, 25])[0],
        )
        if i % 25 == 24:  # without drawing from rng: the rest of the day stays as it was generated
            country, currency, minor = FOREIGN[(i // 25) % len(FOREIGN)]
            account = Account(acc, f"CUS{i:06d}", f"CARD{i:06d}", "", "credit", country, currency, minor)
        out.append(account)
    return out


def _ts(day: date, rng: random.Random, offset_minutes: int | None = None) -> str:
    """A time of the day, in UTC (``Z``) or in local time with its offset (some stores do that)."""
    t = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=rng.randrange(86400))
    if offset_minutes is None:
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")
    local = t + timedelta(minutes=offset_minutes)
    sign = "-" if offset_minutes < 0 else "+"
    hh, mm = divmod(abs(offset_minutes), 60)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{hh:02d}:{mm:02d}"


def _money(value: float, minor: int) -> str:
    return f"{value:.{minor}f}"


def _tx_values(
    tx_id: str,
    acct: Account,
    store: str | None,
    state: str,
    channel: str,
    day: date,
    rng: random.Random,
    offset: int | None = None,
    rates: dict[str, float] | None = None,
) -> list[str]:
    """A purchase (or, for ATM channel, a withdrawal); online orders of foreign cardholders are
    in their own currency, with its minor units."""
    category = rng.choices(list(MERCHANTS), CATEGORY_WEIGHTS)[0]
    usd = round(min(45000.0, rng.lognormvariate(3.4, 1.0)), 2)
    if category in ("JEWELRY", "ELECTRONICS", "TRAVEL") and rng.random() < 0.1:
        usd = round(rng.uniform(1500, 6000), 2)
    location = state if rng.random() < 0.93 else rng.choice(STATES)
    tx_type, merchant = "PURCHASE", rng.choice(MERCHANTS[category])
    currency, minor = "USD", 2
    if channel == "ATM":
        tx_type, category, merchant, usd = (
            "ATM_WITHDRAWAL",
            "ATM",
            "Bank ATM",
            float(rng.choice([20, 40, 60, 100, 200])),
        )
    if channel == "ONLINE" and acct.home_country != "US":
        currency, minor = acct.currency, acct.minor_units
    amount = usd * (rates or {}).get(currency, 1.0)
    return [
        tx_id,
        tx_type,
        "",
        acct.account_id,
        acct.card_id,
        acct.customer_id,
        store or "",
        merchant,
        category,
        _money(amount, minor),
        currency,
        channel,
        "US",
        location,
        acct.home_country,
        acct.home_state,
        acct.account_type,
        _ts(day, rng, offset),
    ]


AMOUNT, CURRENCY, CHANNEL, ACCOUNT_ID, TX_ID, TIME, MERCHANT = 9, 10, 11, 3, 0, 17, 7


def _undo(values: list[str], original: list[str], kind: str, rng: random.Random) -> list[str]:
    """A refund / reversal of an earlier purchase: negative amount, the original's id."""
    v = list(values)
    v[1], v[2] = kind, original[TX_ID]
    for i in (ACCOUNT_ID, 4, 5, MERCHANT, 8, CURRENCY, 14, 15, 16):
        v[i] = original[i]
    share = 1.0 if kind == "REVERSAL" or rng.random() < 0.6 else rng.uniform(0.2, 0.9)
    minor = len(original[AMOUNT].split(".")[1]) if "." in original[AMOUNT] else 0
    v[AMOUNT] = _money(-float(original[AMOUNT]) * share, minor)
    return v


def _bank_entry(tx_id: str, acct: Account, day: date, rng: random.Random) -> list[str]:
    """A deposit (money in: negative) or a fee (positive) posted by the bank on a deposit account."""
    deposit = rng.random() < 0.6
    amount = -round(rng.uniform(100, 3000), 2) if deposit else rng.choice([2.5, 5.0, 12.0, 35.0])
    return [
        tx_id,
        "DEPOSIT" if deposit else "FEE",
        "",
        acct.account_id,
        "",
        acct.customer_id,
        "",
        "Payroll ACH" if deposit else "Monthly fee",
        "",
        f"{amount:.2f}",
        "USD",
        "TRANSFER" if deposit else "SYSTEM",
        "US",
        acct.home_state or "CA",
        acct.home_country,
        acct.home_state,
        acct.account_type,
        _ts(day, rng),
    ]


def _corrupt_tx(values: list[str], kind: int, previous_id: str) -> str | bytes:
    """One bad row of a kind a real feed produces; returns the CSV line."""
    v = list(values)
    if kind == 0:
        v[AMOUNT] = v[AMOUNT].replace(".", ",")  # European decimal comma: a ragged row
        if "," not in v[AMOUNT]:
            v[AMOUNT] += ",00"
    elif kind == 1:
        v[1], v[AMOUNT] = "PURCHASE", "-" + v[AMOUNT].lstrip("-")  # refund sent as a negative sale
    elif kind == 2:
        v[CURRENCY] = "US$"
    elif kind == 3:
        v[TIME] = v[TIME].replace("T", " ")[:16]  # truncated, non-ISO timestamp
    elif kind == 4:
        v[ACCOUNT_ID] = ""  # missing account
    elif kind == 5:
        v[TX_ID] = previous_id  # duplicate transaction id (terminal retry)
    elif kind == 6:
        v[CHANNEL] = "KIOSK"
    elif kind == 7:
        return (",".join(v[:MERCHANT]) + ",Caf\xe9 Ol\xe9," + ",".join(v[MERCHANT + 1 :])).encode("latin-1")
    else:
        v[AMOUNT] = "N/A"
    return ",".join(v)


def transactions_csv(
    store: str,
    state: str,
    day: date,
    n: int,
    accounts: list[Account],
    rng: random.Random,
    bad_rate: float,
    channel: str = "POS",
    bad_kinds: tuple[int, ...] = tuple(range(9)),
    local_time: bool = False,
    purchases_only: bool = False,
) -> tuple[bytes, int]:
    """A store's export: purchases, some refunds / reversals of earlier purchases, ATM
    withdrawals at the store's ATM, and bank deposits / fees; ``local_time`` stores write times
    with their UTC offset."""
    local = [a for a in accounts if a.home_state == state] or accounts
    offset = STATE_OFFSET_MINUTES.get(state, -300) if local_time else None
    lines: list[bytes] = [TX_HEADER.encode()]
    bad = 0
    prev = ""
    prev_bad = True
    purchases: list[list[str]] = []
    for i in range(n):
        tx_id = f"T{day:%Y%m%d}{store}{i:06d}"
        acct = rng.choice(local) if rng.random() < 0.95 else rng.choice(accounts)  # shoppers live nearby
        roll = 1.0 if purchases_only else rng.random()
        if roll < 0.03 and purchases:
            kind = "REVERSAL" if rng.random() < 0.2 else "REFUND"
            values = _undo(
                _tx_values(tx_id, acct, store, state, channel, day, rng, offset),
                rng.choice(purchases),
                kind,
                rng,
            )
        elif roll < 0.06 and channel == "POS":
            values = _tx_values(tx_id, acct, store, state, "ATM", day, rng, offset)
        elif roll < 0.075 and acct.home_country == "US" and acct.account_type != "credit":
            values = _bank_entry(tx_id, acct, day, rng)
        else:
            values = _tx_values(tx_id, acct, store, state, channel, day, rng, offset)
        # never two bad rows in a row, so a duplicate always repeats a valid row's id
        if not prev_bad and rng.random() < bad_rate:
            line = _corrupt_tx(values, rng.choice(bad_kinds), prev)
            bad += 1
            prev_bad = True
        else:
            line = ",".join(values)
            prev_bad = False
            if values[1] == "PURCHASE":
                purchases.append(values)
        lines.append(line if isinstance(line, bytes) else line.encode())
        prev = tx_id
    return b"\n".join(lines) + b"\n", bad


def fx_rates_csv(day: date, rng: random.Random) -> tuple[bytes, dict[str, float]]:
    """The day's reference rates (units per USD), near the bundled reference snapshot."""
    from datapipe.reference.fx import REFERENCE_UNITS_PER_USD

    rates = {c: float(REFERENCE_UNITS_PER_USD[c]) * rng.uniform(0.98, 1.02) for c in FX_CURRENCIES}
    lines = ["rate_date,currency,units_per_usd"] + [f"{day:%Y-%m-%d},{c},{r:.6f}" for c, r in rates.items()]
    return ("\n".join(lines) + "\n").encode(), rates


def online_jsonl_gz(
    day: date,
    n: int,
    accounts: list[Account],
    rng: random.Random,
    bad_rate: float,
    rates: dict[str, float] | None = None,
) -> tuple[bytes, int]:
    out = io.StringIO()
    bad = 0
    for i in range(n):
        acct = rng.choice(accounts)
        state = acct.home_state or rng.choice(STATES)
        values = _tx_values(f"T{day:%Y%m%d}WEB{i:07d}", acct, None, state, "ONLINE", day, rng, rates=rates)
        if acct.home_country != "US":  # ordered from abroad
            values[12], values[13] = acct.home_country, ""
        record: dict[str, object] = dict(zip(TX_COLUMNS, values, strict=True))
        record["store_id"] = None
        record["original_transaction_id"] = None
        record["amount"] = float(values[AMOUNT]) if "." in values[AMOUNT] else int(values[AMOUNT])
        if rng.random() < bad_rate:
            bad += 1
            if rng.random() < 0.5:
                out.write('{"transaction_id": "broken-json", "amount": \n')
                continue
            record["currency"] = "usd"
        out.write(json.dumps(record) + "\n")
    return gzip.compress(out.getvalue().encode()), bad


HOT_PRODUCTS = [f"P{i:04d}" for i in range(1, 11)]  # milk, bread, eggs...: most of the sales
PRODUCTS = [f"P{i:04d}" for i in range(1, 301)]


def inventory_master(stores: list[str], rng: random.Random) -> list[dict[str, object]]:
    """Stock records the warehouse system loads before the day starts (DynamoDB items).

    Hot products start a little above their reorder point, so a normal day of sales makes
    some of them cross it; the rest are comfortably stocked."""
    items: list[dict[str, object]] = []
    for store in stores:
        for product in PRODUCTS:
            hot = product in HOT_PRODUCTS
            threshold = rng.randint(20, 30) if hot else rng.randint(5, 15)
            velocity = round(rng.uniform(12, 25), 1) if hot else round(rng.uniform(0.2, 3.0), 1)
            items.append(
                {
                    "store_id": store,
                    "product_id": product,
                    "on_hand": threshold + rng.randint(3, 25) if hot else threshold + rng.randint(40, 120),
                    "reorder_threshold": threshold,
                    "avg_daily_sales": Decimal(str(velocity)),
                    "lead_time_days": Decimal(str(rng.choice([1, 2, 3, 5]))),
                    "review_days": Decimal("1"),
                    "safety_stock": int(velocity * 1.5) + 2,
                    "min_order_qty": 6 if hot else 1,
                    "case_pack": rng.choice([6, 12, 24]) if hot else 1,
                }
            )
    return items


def inventory_csv(
    store: str, day: date, n: int, rng: random.Random, bad_rate: float, unknown_products: int = 0
) -> tuple[bytes, int]:
    lines = [INV_HEADER]
    bad = 0
    reasons = ["SALE", "DELIVERY", "RETURN", "ADJUSTMENT", "SHRINK", "WASTE", "TRANSFER_IN", "TRANSFER_OUT"]
    for i in range(n):
        product = rng.choice(HOT_PRODUCTS) if rng.random() < 0.35 else rng.choice(PRODUCTS)
        if i < unknown_products:
            product = f"P9{i:03d}"  # a product the store does not list: must be reported
        reason = rng.choices(reasons, [76, 9, 5, 4, 2, 2, 1, 1])[0]
        qty = {
            "SALE": -rng.randint(1, 6),
            "DELIVERY": rng.randint(24, 240),
            "RETURN": rng.randint(1, 2),
            "ADJUSTMENT": rng.choice([-3, -2, -1, 1, 2]),
            "SHRINK": -rng.randint(1, 2),
            "WASTE": -rng.randint(1, 4),
            "TRANSFER_IN": rng.randint(6, 24),
            "TRANSFER_OUT": -rng.randint(6, 24),
        }[reason]
        reference = ""
        if reason == "DELIVERY":
            reference = f"PO-{store}-{product}-{day:%Y%m%d}"
        elif reason.startswith("TRANSFER"):
            reference = f"TR-{day:%Y%m%d}-{rng.randrange(1000):03d}"
        values = [f"M{day:%Y%m%d}{store}{i:06d}", store, product, str(qty), reason, reference, _ts(day, rng)]
        if rng.random() < bad_rate:
            bad += 1
            kind = rng.randrange(4)
            if kind == 0:
                values[3] = "0"
            elif kind == 1:
                values[4] = "THEFT"
            elif kind == 2:
                values[3] = "ten"
            elif reason == "ADJUSTMENT":
                values[3] = "0"
            else:
                values[3] = str(-qty)  # e.g. a sale booked with a positive quantity: wrong sign
        lines.append(",".join(values))
    return ("\n".join(lines) + "\n").encode(), bad


def bench_transactions_csv(rows: int = 100_000, seed: int = 7, bad_rate: float = 0.01) -> bytes:
    rng = random.Random(seed)
    body, _ = transactions_csv("S999", "CA", date(2026, 11, 21), rows, _accounts(rng, 20_000), rng, bad_rate)
    return body


BIG_FILE_BLOCK_ROWS = 50_000
BENCH_DAY = date(2026, 11, 21)
_BENCH_ID_PREFIX = b"T20261121S999"  # every transaction id (and original id) of the bench block starts so
REJECT_KINDS = (
    0,
    1,
    2,
    3,
    4,
    6,
    7,
    8,
)  # every _corrupt_tx kind but 5 (a duplicate of a rejected row is valid)


def _rejected_block(clean: bytes) -> bytes:
    """Every row of a clean block broken one way, the kinds in turn (ragged, sign, currency, time,
    missing account, channel, encoding, amount): a file in which no row survives."""
    header, _, body = clean.partition(b"\n")
    out = [header]
    for i, line in enumerate(body.splitlines()):
        broken = _corrupt_tx(line.decode().split(","), REJECT_KINDS[i % len(REJECT_KINDS)], "")
        out.append(broken if isinstance(broken, bytes) else broken.encode())
    return b"\n".join(out) + b"\n"


def stream_transactions_csv(
    out: BinaryIO,
    target_bytes: int,
    rejected: bool = False,
    seed: int = 7,
    block_rows: int = BIG_FILE_BLOCK_ROWS,
) -> dict[str, int]:
    """A transactions CSV of about ``target_bytes`` (whole lines) written to ``out`` as it is made.

    One block of ``block_rows`` rows is generated (clean, or every row rejected) and
    repeated; each copy renames its transaction ids (and the original ids its refunds name), so
    every id stays distinct across the file. Memory: one block, whatever the size.
    Returns the rows and bytes written.
    """
    rng = random.Random(seed)
    block, _ = transactions_csv("S999", "CA", BENCH_DAY, block_rows, _accounts(rng, 20_000), rng, 0.0)
    if rejected:
        block = _rejected_block(block)
    header, _, body = block.partition(b"\n")
    out.write(header + b"\n")
    written, rows, copy = len(header) + 1, 0, 0
    while written < target_bytes:
        chunk = body.replace(_BENCH_ID_PREFIX, b"T%08dS999" % copy)  # same length: ids stay valid
        room = target_bytes - written
        if len(chunk) > room:
            cut = chunk.rfind(b"\n", 0, room) + 1
            chunk = chunk[:cut] if cut > 0 else chunk[: chunk.find(b"\n") + 1]
        out.write(chunk)
        written += len(chunk)
        rows += chunk.count(b"\n")
        copy += 1
    return {"rows": rows, "bytes": written}


ACCOUNTS_HEADER = (
    "snapshot_date,account_id,customer_id,account_type,product_code,currency,opened_date,closed_date,"
    "credit_limit,balance_brought_forward"
)
RATES_HEADER = "feed_date,product_code,annual_rate,day_count,effective_date"
# product -> (annual rate, day count): two savings products with different bases, so both are used
BANK_PRODUCTS = {
    "SAV-STD": ("0.0425", "ACT/365"),
    "SAV-PLUS": ("0.0510", "ACT/360"),
    "CHK-BASIC": ("0", "ACT/365"),
    "CC-STD": ("0.2199", "ACT/365"),
}


def _product(account: Account, number: int) -> str:
    if account.account_type == "savings":
        return "SAV-PLUS" if number % 3 == 0 else "SAV-STD"
    return "CHK-BASIC" if account.account_type == "checking" else "CC-STD"


def accounts_csv(day: date, accounts: list[Account]) -> bytes:
    """The account master as of ``day``'s close, derived from the account numbers only (no draw from
    the day's random stream, so the rest of the generated day is unchanged). Balances brought
    forward are generous: a day of purchases leaves most deposit accounts in credit."""
    lines = [ACCOUNTS_HEADER]
    for number, a in enumerate(accounts):
        minor = a.minor_units
        if a.account_type == "credit":
            limit = Decimal(2_000 + (number * 7_919) % 18_000)
            brought = Decimal((number * 613) % 1_500)
            limit_text = f"{limit:.{minor}f}"
        else:
            brought = Decimal(5_000 + (number * 7_919) % 45_000) + Decimal(number % 100) / 100
            limit_text = ""
        opened = day - timedelta(days=400 + number % 2_000)
        lines.append(
            f"{day},{a.account_id},{a.customer_id},{a.account_type},{_product(a, number)},{a.currency},"
            f"{opened},,{limit_text},{brought:.{minor}f}"
        )
    return ("\n".join(lines) + "\n").encode()


def interest_rates_csv(day: date) -> bytes:
    """The day's rates feed: every product's annual rate and day-count basis, in force since the
    first of the month."""
    effective = day.replace(day=1)
    lines = [RATES_HEADER] + [
        f"{day},{code},{rate},{basis},{effective}" for code, (rate, basis) in sorted(BANK_PRODUCTS.items())
    ]
    return ("\n".join(lines) + "\n").encode()


def banking_files(day: date, accounts: list[Account]) -> list[RawFile]:
    """The account master and the rates feed of the day (end of day's inputs)."""
    return [
        RawFile(
            f"accounts/{day:%Y-%m-%d}/accounts.csv",
            accounts_csv(day, accounts),
            len(accounts),
            0,
            "publish",
            "the account master as of the day's close",
        ),
        RawFile(
            f"interest_rates/{day:%Y-%m-%d}/rates.csv",
            interest_rates_csv(day),
            len(BANK_PRODUCTS),
            0,
            "publish",
            "the day's interest rates feed (treasury, ~18:00)",
        ),
    ]


def business_day(
    day: date,
    stores: int = 60,
    tx_per_store: int = 1_650,
    online_rows: int = 4_000,
    movements_per_store: int = 120,
    seed: int = 42,
) -> list[RawFile]:
    """A day of raw files: per-store POS CSVs, an online JSONL.gz, per-store stock movements,
    plus the files a real day brings: a store's late re-send of an old day, a terminal with a
    firmware bug, and a corrupted upload."""
    rng = random.Random(seed)
    accounts = _accounts(rng, 20_000)
    files: list[RawFile] = []
    store_ids = [f"S{i:03d}" for i in range(1, stores + 1)]
    store_state = {s: STATES[i % len(STATES)] for i, s in enumerate(store_ids)}
    prefix = f"{day:%Y-%m-%d}"
    fx_body, rates = fx_rates_csv(day, rng)
    files.append(
        RawFile(
            f"fx_rates/{prefix}/rates.csv", fx_body, len(FX_CURRENCIES), 0, "publish", "the day's USD rates"
        )
    )
    for number, store in enumerate(store_ids):
        n = tx_per_store + rng.randrange(-150, 150)
        local_time = number % 4 == 3  # a quarter of the stores write local times with their offset
        body, bad = transactions_csv(
            store, store_state[store], day, n, accounts, rng, 0.01, local_time=local_time
        )
        files.append(
            RawFile(
                f"transactions/{prefix}/pos-{store}.csv",
                body,
                n,
                bad,
                "publish",
                "store POS export, ~1% bad rows" + (", local times with offsets" if local_time else ""),
            )
        )
    body, bad = online_jsonl_gz(day, online_rows, accounts, rng, 0.01, rates=rates)
    files.append(
        RawFile(
            f"transactions/{prefix}/online.jsonl.gz",
            body,
            online_rows,
            bad,
            "publish",
            "e-commerce orders, gzip JSON Lines",
        )
    )
    for first in range(0, len(store_ids), 10):  # the WMS exports one file per 10-store region
        region = store_ids[first : first + 10]
        bodies = [
            inventory_csv(
                store,
                day,
                movements_per_store,
                rng,
                0.01,
                unknown_products=2 if first == 0 and store == region[0] else 0,
            )
            for store in region
        ]
        body = bodies[0][0] + b"".join(b.split(b"\n", 1)[1] for b, _ in bodies[1:])
        files.append(
            RawFile(
                f"inventory_movements/{prefix}/region-{first // 10 + 1:02d}.csv",
                body,
                movements_per_store * len(region),
                sum(b for _, b in bodies),
                "publish",
                f"stock movements of stores {region[0]}-{region[-1]}",
            )
        )
    late_store, buggy_store, cut_store = (
        store_ids[len(store_ids) // 8],
        store_ids[len(store_ids) * 2 // 3],
        store_ids[len(store_ids) // 5],
    )
    late_day = day - timedelta(days=6)
    body, bad = transactions_csv(
        late_store, store_state[late_store], late_day, tx_per_store, accounts, rng, 0.005
    )
    files.append(
        RawFile(
            f"transactions/{prefix}/pos-{late_store}-resend-{late_day:%Y%m%d}.csv",
            body,
            tx_per_store,
            bad,
            "enhanced_publish",
            "late re-send of a 6-day-old file: stale, so enhanced validation decides",
        )
    )
    body, bad = transactions_csv(
        buggy_store, store_state[buggy_store], day, 1_200, accounts, random.Random(99), 0.30, bad_kinds=(0, 8)
    )
    files.append(
        RawFile(
            f"transactions/{prefix}/pos-{buggy_store}-terminal-7.csv",
            body,
            1_200,
            bad,
            "gate_quarantine",
            "terminal firmware bug garbles ~30% of amounts",
        )
    )
    broken, _ = transactions_csv(cut_store, store_state[cut_store], day, 800, accounts, rng, 0.0)
    truncated = gzip.compress(broken)[:1_500]
    files.append(
        RawFile(
            f"transactions/{prefix}/pos-{cut_store}-upload.csv.gz",
            truncated,
            0,
            0,
            "file_quarantine",
            "upload cut off mid-transfer: truncated gzip",
        )
    )
    files += banking_files(day, accounts)
    return files
