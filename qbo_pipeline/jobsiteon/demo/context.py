"""Shared state of one demo-books generation: the seeded RNG, the names, emails and ids
already used (so only the deliberately planted cases collide), and small realistic-value
helpers (people, businesses, emails, 555 phone numbers, addresses, timestamps)."""
from __future__ import annotations

import bisect
import datetime as dt
import itertools
import random
import unicodedata

from qbo_pipeline.jobsiteon.demo import catalog as cat

UTC = dt.timezone.utc

# Base counts at scale 1, and the floor at any scale (the planted cases need a few records).
BASE_COUNTS = {
    "contacts": (500, 20), "pricebook_items": (200, 14), "invoices": (2000, 30),
    "vendors": (50, 5), "purchase_orders": (300, 5), "credit_memos": (60, 3),
    "refund_receipts": (30, 2), "qbo_only_customers": (40, 3), "qbo_only_items": (15, 2),
    "qbo_only_vendors": (8, 1), "qbo_only_invoices": (12, 3),
}


def name_key(name: str) -> str:
    """How QBO-like uniqueness sees a name once case and spacing are ignored."""
    return " ".join(name.split()).casefold()


def slug(name: str) -> str:
    """ASCII letters and digits of `name` (Lucía -> lucia), for email addresses."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_name.lower() if ch.isalnum())


class DemoContext:
    def __init__(self, books, seed: int, scale: float, as_of: dt.date) -> None:
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.books = books
        self.rng = random.Random(seed)
        self.scale = scale
        self.as_of = as_of
        self.names: set[str] = set()      # name_key of every name used anywhere
        self.emails: set[str] = set()
        self.ids: set[str] = set()
        self.person: dict[str, tuple[str, str]] = {}   # contact id -> (given, family)
        self._city_cum = list(itertools.accumulate(weight for *_, weight in cat.CITIES))

    def count(self, key: str) -> int:
        base, floor = BASE_COUNTS[key]
        return max(floor, round(base * self.scale))

    def new_id(self, prefix: str) -> str:
        while True:
            candidate = f"{prefix}_{self.rng.getrandbits(64):016x}"
            if candidate not in self.ids:
                self.ids.add(candidate)
                return candidate

    def at(self, day: dt.date) -> dt.datetime:
        """A working-hours moment on `day` (UTC)."""
        return dt.datetime.combine(
            day, dt.time(self.rng.randint(13, 23), self.rng.randint(0, 59), self.rng.randint(0, 59)),
            tzinfo=UTC,
        )

    def days_ago(self, low: int, high: int) -> dt.date:
        return self.as_of - dt.timedelta(days=self.rng.randint(low, high))

    def claim_name(self, name: str) -> bool:
        key = name_key(name)
        if key in self.names:
            return False
        self.names.add(key)
        return True

    def claim_email(self, email: str) -> str:
        local, domain = email.split("@")
        candidate, n = email, 1
        while candidate.casefold() in self.emails:
            n += 1
            candidate = f"{local}{n}@{domain}"
        self.emails.add(candidate.casefold())
        return candidate

    def phone(self, area: str) -> str:
        return f"({area}) 555-{self.rng.randint(100, 9999):04d}"

    def address(self) -> dict:
        rng = self.rng
        city, state, postal, area, _ = cat.CITIES[
            bisect.bisect_right(self._city_cum, rng.random() * self._city_cum[-1])
        ]
        line1 = f"{rng.randint(100, 19999)} {rng.choice(cat.STREETS)} {rng.choice(cat.STREET_SUFFIXES)}"
        if rng.random() < 0.12:
            line1 += f" {rng.choice(('Suite', 'Unit', 'Ste'))} {rng.randint(100, 450)}"
        return {
            "billing_line1": line1, "billing_city": city, "billing_state": state,
            "billing_postal_code": postal, "billing_country": "US", "_area": area,
        }

    def person_name(self) -> tuple[str, str, str]:
        while True:
            given, family = self.rng.choice(cat.FIRST_NAMES), self.rng.choice(cat.LAST_NAMES)
            name = f"{given} {family}"
            if self.claim_name(name):
                return name, given, family

    def business_name(self, patterns: tuple[str, ...]) -> str:
        rng = self.rng
        for attempt in itertools.count():
            name = rng.choice(patterns).format(
                last=rng.choice(cat.LAST_NAMES), last2=rng.choice(cat.LAST_NAMES),
                place=rng.choice(cat.PLACES),
            )
            if attempt > 50:
                name = f"{name} {rng.choice(('North', 'South', 'East', 'West', 'Central'))}"
            if self.claim_name(name):
                return name
        raise AssertionError("unreachable")

    def personal_email(self, given: str, family: str) -> str:
        rng = self.rng
        given_s, family_s = slug(given), slug(family)
        local = rng.choice((
            f"{given_s}.{family_s}", f"{given_s[0]}{family_s}", f"{given_s}{family_s}",
            f"{given_s}.{family_s}{rng.randint(1, 99)}", f"{given_s}{rng.randint(60, 99)}",
        ))
        return self.claim_email(f"{local}@{rng.choice(cat.PERSONAL_EMAIL_DOMAINS)}")

    def business_email(self, name: str, mailboxes: tuple[str, ...]) -> str:
        words = [w for w in name.replace("&", " ").split() if w.lower() not in ("llc", "inc.", "co.")]
        domain = slug("".join(words[:3]))[:24] + self.rng.choice((".com", ".com", ".net", ".co"))
        return self.claim_email(f"{self.rng.choice(mailboxes)}@{domain}")

    def stamps(self, created_low: int, created_high: int, edit_chance: float = 0.3) -> dict:
        created_day = self.days_ago(created_low, created_high)
        created = self.at(created_day)
        updated = created
        if self.rng.random() < edit_chance:
            age = (self.as_of - created_day).days
            updated = self.at(created_day + dt.timedelta(days=self.rng.randint(0, max(0, age - 1))))
            updated = max(updated, created)
        return {"created_at": created, "updated_at": updated, "deleted_at": None}
