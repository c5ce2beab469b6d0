"""Deterministic, realistic-looking data for seeding sandboxes (stdlib `random` only).

`FakeData(seed)` gives the same sequence of names, emails, companies and ticket subjects for
the same seed and the same sequence of calls, on every machine and Python version
(random.Random's Mersenne Twister with integer seeds is stable across versions).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Ana", "Arjun", "Beatriz", "Ben", "Camille", "Carlos", "Chen",
    "Chloe", "Daniel", "Dmitri", "Elena", "Emma", "Farah", "Felix", "Grace", "Hana", "Hugo",
    "Ines", "Isaac", "Jamal", "Jana", "Javier", "Julia", "Kai", "Kenji", "Lara", "Leila",
    "Liam", "Lucas", "Maya", "Mei", "Mohammed", "Nadia", "Noah", "Olga", "Omar", "Priya",
    "Rafael", "Rosa", "Sam", "Sara", "Sofia", "Tariq", "Thomas", "Uma", "Victor", "Yuki",
    "Zoe", "Zeynep",
)  # fmt: skip
LAST_NAMES = (
    "Abbott", "Alvarez", "Andersen", "Bauer", "Becker", "Brennan", "Castillo", "Chen",
    "Costa", "Dubois", "Eriksson", "Fischer", "Fontaine", "Garcia", "Gupta", "Hansen",
    "Hoffmann", "Ito", "Jansen", "Kaur", "Kim", "Kowalski", "Larsen", "Lopez", "Martin",
    "Meyer", "Moreau", "Müller", "Nakamura", "Nguyen", "Novak", "O'Brien", "Okafor", "Patel",
    "Petrov", "Quinn", "Rossi", "Santos", "Schmidt", "Silva", "Singh", "Suzuki", "Tanaka",
    "Torres", "Varga", "Wagner", "Walsh", "Weber", "Yilmaz", "Zhang",
)  # fmt: skip
COMPANY_PARTS = (
    "Acme", "Apex", "Atlas", "Beacon", "Blue Harbor", "Brightline", "Cedar", "Cobalt",
    "Copper Leaf", "Delta", "Evergreen", "Falcon", "Granite", "Harbor", "Helix", "Horizon",
    "Ironwood", "Juniper", "Keystone", "Lumen", "Meridian", "Nimbus", "Northwind", "Oakridge",
    "Orbit", "Pinnacle", "Quantum", "Redwood", "Riverstone", "Sagebrush", "Silverline",
    "Summit", "Tidewater", "Vertex", "Willow", "Zenith",
)  # fmt: skip
COMPANY_SUFFIXES = (
    "Analytics", "Logistics", "Labs", "Systems", "Health", "Foods", "Energy", "Robotics",
    "Software", "Consulting", "Manufacturing", "Media", "Retail", "Bank", "Insurance",
    "Networks", "Pharma", "Studios", "Freight", "Solar",
)  # fmt: skip
COMPANY_FORMS = ("Inc.", "Ltd", "GmbH", "LLC", "S.A.", "AB", "BV", "Co.")
INDUSTRIES = (
    "COMPUTER_SOFTWARE", "HOSPITAL_HEALTH_CARE", "FINANCIAL_SERVICES", "RETAIL",
    "LOGISTICS_AND_SUPPLY_CHAIN", "RENEWABLES_ENVIRONMENT", "MARKETING_AND_ADVERTISING",
    "EDUCATION_MANAGEMENT",
)  # fmt: skip
CITIES = (
    ("Berlin", "Germany"), ("Boston", "United States"), ("Dublin", "Ireland"),
    ("Lisbon", "Portugal"), ("Lyon", "France"), ("Madrid", "Spain"), ("Melbourne", "Australia"),
    ("Nairobi", "Kenya"), ("Osaka", "Japan"), ("Oslo", "Norway"), ("Pune", "India"),
    ("São Paulo", "Brazil"), ("Seoul", "South Korea"), ("Toronto", "Canada"),
    ("Warsaw", "Poland"), ("Zurich", "Switzerland"),
)  # fmt: skip
JOB_TITLES = (
    "Head of Operations", "Customer Success Manager", "VP Sales", "IT Administrator",
    "Support Lead", "Procurement Manager", "CTO", "Account Executive", "Office Manager",
    "Product Manager", "Finance Director", "Marketing Specialist",
)  # fmt: skip
TICKET_TOPICS = (
    "Cannot log in after password reset", "Invoice shows the wrong VAT number",
    "Export to CSV times out", "Two-factor codes arrive late", "Feature request: dark mode",
    "Sync stopped after the last update", "Refund for duplicate charge",
    "API returns 500 on large uploads", "How do I add a new team member?",
    "Mobile app crashes on startup", "Webhook deliveries are delayed",
    "Cannot change the billing address", "Search results are missing recent items",
    "Report totals do not match", "SSO login loops back to the sign-in page",
    "Attachment upload fails over 10 MB", "Time zone is wrong on scheduled reports",
    "Account locked after too many attempts", "Slow dashboard on Monday mornings",
    "Data import skipped some rows",
)  # fmt: skip
SENTENCES = (
    "The customer reported this after the latest release.",
    "It happens on both the web and the mobile app.",
    "Steps to reproduce are attached below.",
    "This blocks their month-end reporting.",
    "They tried clearing the cache without success.",
    "Several users on the same account see it.",
    "A workaround is in place for now.",
    "Please check the logs around the time of the incident.",
    "The issue started on Monday morning.",
    "They would like an update by the end of the week.",
)  # fmt: skip


def _slug(text: str) -> str:
    ascii_text = text.replace("ü", "u").replace("ã", "a").replace("'", "")
    return re.sub(r"[^a-z0-9]+", "", ascii_text.lower())


class FakeData:
    """A seeded generator of plausible CRM and ticketing values."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.random = random.Random(seed)

    def choice(self, options: Sequence[T]) -> T:
        return options[self.random.randrange(len(options))]

    def first_name(self) -> str:
        return self.choice(FIRST_NAMES)

    def last_name(self) -> str:
        return self.choice(LAST_NAMES)

    def person(self) -> tuple[str, str]:
        return self.first_name(), self.last_name()

    def company(self) -> tuple[str, str]:
        """(name, domain), e.g. ("Cobalt Logistics GmbH", "cobaltlogistics.example")."""
        base = f"{self.choice(COMPANY_PARTS)} {self.choice(COMPANY_SUFFIXES)}"
        return f"{base} {self.choice(COMPANY_FORMS)}", f"{_slug(base)}.example"

    def email(self, first: str, last: str, domain: str, unique: int | None = None) -> str:
        """A work address; `unique` (e.g. a sequence number) keeps addresses distinct."""
        local = f"{_slug(first)}.{_slug(last)}"
        if unique is not None:
            local += str(unique)
        return f"{local}@{domain}"

    def phone(self) -> str:
        return f"+1 555 {self.random.randrange(100, 1000)} {self.random.randrange(1000, 10000)}"

    def city(self) -> tuple[str, str]:
        return self.choice(CITIES)

    def job_title(self) -> str:
        return self.choice(JOB_TITLES)

    def industry(self) -> str:
        return self.choice(INDUSTRIES)

    def ticket_subject(self) -> str:
        return self.choice(TICKET_TOPICS)

    def paragraph(self, sentences: int = 3) -> str:
        return " ".join(self.choice(SENTENCES) for _ in range(sentences))

    def amount(self, low: int = 500, high: int = 250_000) -> int:
        return self.random.randrange(low, high, 50)

    def timestamp(self, start: float, end: float) -> float:
        """Epoch seconds in [start, end), millisecond precision."""
        return round(self.random.uniform(start, end), 3)

    def weighted(self, options: Sequence[tuple[T, int]]) -> T:
        values = [o for o, _ in options]
        weights = [w for _, w in options]
        return self.random.choices(values, weights=weights, k=1)[0]
