"""Cardholders: customers with their card, extra card-only holders, and monthly record updates."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from itertools import accumulate
from random import Random

from lakehouse.generate.reference import (
    CATEGORIES,
    CITIES,
    FIRST_NAMES_F,
    FIRST_NAMES_M,
    JOBS,
    LAST_NAMES,
    STREET_NAMES,
    STREET_SUFFIXES,
    City,
)
from lakehouse.pii.card import luhn_check_digit

# (weight, issuer prefixes, length): mostly 16 digits, like the public data's mix of networks.
PAN_SCHEMES: tuple[tuple[float, tuple[str, ...], int], ...] = (
    (0.40, ("4",), 16),
    (0.20, ("51", "52", "53", "54", "55"), 16),
    (0.10, ("6011",), 16),
    (0.08, ("34", "37"), 15),
    (0.07, ("4",), 13),
    (0.04, ("36", "38"), 14),
    (0.07, ("4", "6304"), 19),
    (0.02, ("60",), 11),
    (0.02, ("30", "50"), 12),
)
EXTRA_CARDHOLDER_SHARE = 0.10
DOB_FIRST = date(1940, 1, 1)
DOB_LAST = date(2005, 12, 31)


@dataclass(frozen=True)
class Person:
    """One version of a cardholder's master data; customer_id is None for card-only holders."""

    customer_id: str | None
    number: int
    cc_num: str
    first: str
    last: str
    gender: str
    dob: date
    street: str
    city: City
    job: str
    annual_income: float
    credit_score: int
    updated_at: datetime

    @property
    def email(self) -> str:
        """Contact address derived from the name and customer number."""
        return f"{self.first.lower()}.{self.last.lower()}{self.number}@example.com"

    def to_record(self) -> dict[str, object]:
        """Customer record in the customers.yaml layout order."""
        return {
            "customer_id": self.customer_id,
            "cc_num": self.cc_num,
            "first": self.first,
            "last": self.last,
            "gender": self.gender,
            "dob": self.dob.isoformat(),
            "street": self.street,
            "city": self.city.name,
            "state": self.city.state,
            "zip": self.city.zip,
            "job": self.job,
            "email": self.email,
            "annual_income": self.annual_income,
            "credit_score": self.credit_score,
            "updated_at": self.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


@dataclass(frozen=True)
class Cardholder:
    """A card and its holder's record versions plus a spending profile."""

    versions: tuple[Person, ...]
    daily_rate: float
    category_cum_weights: tuple[float, ...]
    amount_scale: float

    @property
    def initial(self) -> Person:
        """The record as it was before the horizon started."""
        return self.versions[0]

    def on(self, day: date) -> Person:
        """Record in force on a day: a change applies from the day after its updated_at."""
        current = self.versions[0]
        for version in self.versions[1:]:
            if version.updated_at.date() >= day:
                break
            current = version
        return current


@dataclass(frozen=True)
class Population:
    """Everyone who holds a card, and the customer changes delivered in each update file."""

    customers: tuple[Cardholder, ...]
    extras: tuple[Cardholder, ...]
    updates: dict[date, tuple[Person, ...]]

    @property
    def cardholders(self) -> tuple[Cardholder, ...]:
        """Customers first, then card-only holders."""
        return self.customers + self.extras


def build_population(seed: int, customers: int, start: date,
                     update_days: list[date]) -> Population:
    """Customers plus ~10% card-only holders, each with one unique Luhn-valid card."""
    rng = Random(f"{seed}:people")
    extras = max(1, round(customers * EXTRA_CARDHOLDER_SHARE))
    used_pans: set[str] = set()
    people = [
        _new_person(rng, number, number <= customers, _unique_pan(rng, used_pans), start)
        for number in range(1, customers + extras + 1)
    ]
    histories = [[person] for person in people[:customers]]
    updates = _monthly_updates(Random(f"{seed}:updates"), histories, start, update_days)
    profiles = Random(f"{seed}:profiles")
    holders = [_cardholder(profiles, tuple(history)) for history in histories]
    extra_holders = [_cardholder(profiles, (person,)) for person in people[customers:]]
    return Population(tuple(holders), tuple(extra_holders), updates)


def new_pan(rng: Random) -> str:
    """A Luhn-valid card number with a realistic issuer prefix and length."""
    weights = [scheme[0] for scheme in PAN_SCHEMES]
    _, prefixes, length = rng.choices(PAN_SCHEMES, weights=weights)[0]
    partial = rng.choice(prefixes)
    partial += "".join(str(rng.randrange(10)) for _ in range(length - 1 - len(partial)))
    return partial + luhn_check_digit(partial)


def _unique_pan(rng: Random, used: set[str]) -> str:
    """A card number no other cardholder has."""
    pan = new_pan(rng)
    while pan in used:
        pan = new_pan(rng)
    used.add(pan)
    return pan


def _new_person(rng: Random, number: int, is_customer: bool, pan: str, start: date) -> Person:
    """A plausible adult with an address, job, income and credit score."""
    gender = rng.choice("FM")
    first = rng.choice(FIRST_NAMES_F if gender == "F" else FIRST_NAMES_M)
    income = min(400_000.0, max(10_000.0, rng.lognormvariate(math.log(60_000), 0.55)))
    # Higher incomes tend to come with better scores.
    score_mean = 640 + 40 * math.log(income / 60_000)
    score = int(min(850, max(300, rng.gauss(score_mean, 75))))
    dob = DOB_FIRST + timedelta(days=rng.randrange((DOB_LAST - DOB_FIRST).days + 1))
    updated = datetime(start.year, start.month, start.day) - timedelta(
        seconds=rng.randrange(86_400, 730 * 86_400))
    return Person(
        customer_id=f"C{number:06d}" if is_customer else None,
        number=number,
        cc_num=pan,
        first=first,
        last=rng.choice(LAST_NAMES),
        gender=gender,
        dob=dob,
        street=_street(rng),
        city=rng.choice(CITIES),
        job=rng.choice(JOBS),
        annual_income=round(income, 2),
        credit_score=score,
        updated_at=updated,
    )


def _street(rng: Random) -> str:
    """House number, street name and suffix."""
    return f"{rng.randint(1, 9999)} {rng.choice(STREET_NAMES)} {rng.choice(STREET_SUFFIXES)}"


def _monthly_updates(rng: Random, histories: list[list[Person]], start: date,
                     update_days: list[date]) -> dict[date, tuple[Person, ...]]:
    """Each month 5-10% of customers move or change job, income or score; delivered on the 1st."""
    batches: dict[date, tuple[Person, ...]] = {}
    window_start = start
    for file_day in update_days:
        count = max(1, round(len(histories) * rng.uniform(0.05, 0.10)))
        chosen = sorted(rng.sample(range(len(histories)), min(count, len(histories))))
        window = int((file_day - window_start).total_seconds())
        batch = []
        for index in chosen:
            changed_at = datetime(window_start.year, window_start.month, window_start.day)
            changed = _changed(rng, histories[index][-1],
                               changed_at + timedelta(seconds=rng.randrange(window)))
            histories[index].append(changed)
            batch.append(changed)
        batches[file_day] = tuple(batch)
        window_start = file_day
    return batches


def _changed(rng: Random, person: Person, updated_at: datetime) -> Person:
    """A new version with one or two of: a move, a new job, a new income, a new score."""
    changes = rng.sample(("move", "job", "income", "score"), rng.randint(1, 2))
    city, street, job = person.city, person.street, person.job
    income, score = person.annual_income, person.credit_score
    if "move" in changes:
        city = rng.choice([other for other in CITIES if other != person.city])
        street = _street(rng)
    if "job" in changes:
        job = rng.choice([other for other in JOBS if other != person.job])
    if "income" in changes:
        income = round(min(400_000.0, max(10_000.0, income * rng.uniform(0.8, 1.25))), 2)
    if "score" in changes:
        score = min(850, max(300, score + rng.randint(-40, 40)))
    return replace(person, city=city, street=street, job=job, annual_income=income,
                   credit_score=score, updated_at=updated_at)


def _cardholder(rng: Random, versions: tuple[Person, ...]) -> Cardholder:
    """Attach a spending profile: 0.3-1 purchases a day, favourite categories, spend level."""
    weights = [category.weight * rng.gammavariate(2.0, 1.0) for category in CATEGORIES]
    scale = rng.lognormvariate(0.0, 0.25) * (versions[0].annual_income / 60_000) ** 0.15
    return Cardholder(
        versions=versions,
        daily_rate=rng.uniform(0.3, 1.0),
        category_cum_weights=tuple(accumulate(weights)),
        amount_scale=scale,
    )
