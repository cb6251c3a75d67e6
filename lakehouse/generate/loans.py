"""Loan book: monthly snapshots of amortising loans whose defaults follow borrower risk."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from random import Random

from lakehouse.generate.dates import month_end
from lakehouse.generate.people import Person

BORROWER_SHARE = 0.40
SECOND_LOAN_SHARE = 0.30
NEW_LOAN_MONTHLY_RATE = 0.004
MAX_AGE_MONTHS = 48
PREPAY_MONTHLY_RATE = 0.006
# Chance that a late loan catches up, by days past due; otherwise it rolls 30 days further.
CURE_RATE = {30: 0.40, 60: 0.25, 90: 0.15}
DEFAULT_DPD = 120
CHARGE_OFF_DPD = 180
# Charged-off loans stay on the reports for a year, then leave the book.
CHARGED_OFF_REPORTED_MONTHS = 12


@dataclass(frozen=True)
class Product:
    """Pricing and sizing rules of a loan product."""

    name: str
    weight: float
    income_multiple: tuple[float, float]
    terms: tuple[int, ...]
    base_rate: float
    risk_spread: float


PRODUCTS: tuple[Product, ...] = (
    Product("personal", 0.30, (0.05, 0.5), (24, 36, 48, 60), 0.085, 0.14),
    Product("auto", 0.25, (0.2, 0.8), (36, 48, 60, 72), 0.045, 0.08),
    Product("mortgage", 0.12, (2.0, 5.0), (180, 360), 0.035, 0.035),
    Product("student", 0.13, (0.2, 1.2), (120,), 0.045, 0.03),
    Product("credit_line", 0.20, (0.05, 0.3), (12, 24, 36, 60), 0.12, 0.14),
)


@dataclass
class Loan:
    """Simulation state of one loan; snapshots are taken at month ends."""

    loan_id: str
    customer_id: str
    product: Product
    principal: float
    rate: float
    term: int
    origination: date
    monthly_late_risk: float
    balance: float
    status: str = "current"
    dpd: int = 0
    months_paid: int = 0
    months_closed: int = 0
    payment: float = field(init=False)

    def __post_init__(self) -> None:
        """Level monthly instalment that repays the principal over the term."""
        monthly = self.rate / 12
        self.payment = self.principal * monthly / (1 - (1 + monthly) ** -self.term)

    def step(self, rng: Random) -> None:
        """One month: bad states are terminal, late loans cure or roll, current loans pay."""
        if self.status == "paid_off":
            self.months_closed += 1
        elif self.status == "charged_off":
            self.months_closed += 1
            self.dpd += 30
        elif self.status == "default":
            self.dpd += 30
            if self.dpd >= CHARGE_OFF_DPD:
                self.status = "charged_off"
        elif self.status == "late":
            if rng.random() < CURE_RATE[self.dpd]:
                self.status, self.dpd = "current", 0
                self._pay(rng)
            else:
                self.dpd += 30
                if self.dpd >= DEFAULT_DPD:
                    self.status = "default"
        elif rng.random() < self.monthly_late_risk:
            self.status, self.dpd = "late", 30
        elif rng.random() < PREPAY_MONTHLY_RATE:
            self._close()
        else:
            self._pay(rng)

    def _pay(self, rng: Random) -> None:
        """An instalment: amortise (or move a credit line's drawn amount); the last one closes."""
        self.months_paid += 1
        if self.product.name == "credit_line":
            drawn = self.balance + self.principal * rng.uniform(-0.15, 0.15)
            self.balance = min(self.principal, max(0.0, drawn))
        else:
            self.balance -= self.payment - self.balance * self.rate / 12
        if self.months_paid >= self.term or self.balance <= 0.005:
            self._close()

    @property
    def on_book(self) -> bool:
        """Paid-off loans are reported once, charged-off ones for a year, all others always."""
        if self.status == "paid_off":
            return self.months_closed == 0
        if self.status == "charged_off":
            return self.months_closed <= CHARGED_OFF_REPORTED_MONTHS
        return True

    def _close(self) -> None:
        """Paid off in full."""
        self.status, self.balance, self.dpd = "paid_off", 0.0, 0

    def snapshot(self, as_of: date) -> dict[str, object]:
        """The loans.yaml record for this month end."""
        return {
            "loan_id": self.loan_id,
            "customer_id": self.customer_id,
            "product": self.product.name,
            "terms": {
                "principal": self.principal,
                "interest_rate": self.rate,
                "term_months": self.term,
            },
            "origination_date": self.origination.isoformat(),
            "status": self.status,
            "delinquency": {"days_past_due": self.dpd},
            "outstanding_balance": round(self.balance, 2),
            "as_of_date": as_of.isoformat(),
        }


def loan_snapshots(seed: int, borrowers: list[Person], snapshot_days: list[date]
                   ) -> dict[date, list[dict[str, object]]]:
    """Month-end snapshots: ~40% of customers hold 1-2 loans, a few more originate each month."""
    rng = Random(f"{seed}:loans:book")
    first = snapshot_days[0]
    loans: list[tuple[int, Loan]] = []
    holdings = [0] * len(borrowers)
    for index, person in enumerate(borrowers):
        if rng.random() >= BORROWER_SHARE:
            continue
        for _ in range(2 if rng.random() < SECOND_LOAN_SHARE else 1):
            product = _product(rng)
            term = rng.choice(product.terms)
            age = rng.randint(1, min(term - 1, MAX_AGE_MONTHS))
            loans.append((-age, _originate(rng, len(loans) + 1, person, product, term,
                                           _month_shift(first, -age))))
            holdings[index] += 1
    # New business draws from its own stream so a longer horizon keeps the same existing book.
    fresh = Random(f"{seed}:loans:new")
    for month, as_of in enumerate(snapshot_days):
        for index, person in enumerate(borrowers):
            if holdings[index] < 2 and fresh.random() < NEW_LOAN_MONTHLY_RATE:
                product = _product(fresh)
                loans.append((month, _originate(fresh, len(loans) + 1, person, product,
                                                fresh.choice(product.terms), as_of)))
                holdings[index] += 1
    snapshots: dict[date, list[dict[str, object]]] = {day: [] for day in snapshot_days}
    for opened, loan in loans:
        _simulate(Random(f"{seed}:loan:{loan.loan_id}"), loan, opened, snapshot_days, snapshots)
    return snapshots


def _simulate(rng: Random, loan: Loan, opened: int, snapshot_days: list[date],
              snapshots: dict[date, list[dict[str, object]]]) -> None:
    """Step the loan from its origination month to the last snapshot, recording horizon months."""
    for month in range(opened, len(snapshot_days)):
        if month > opened:
            loan.step(rng)
        if not loan.on_book:
            return
        if month >= 0:
            snapshots[snapshot_days[month]].append(loan.snapshot(snapshot_days[month]))


def _product(rng: Random) -> Product:
    """A product drawn by its share of the book."""
    return rng.choices(PRODUCTS, weights=[product.weight for product in PRODUCTS])[0]


def _originate(rng: Random, number: int, person: Person, product: Product, term: int,
               month_last_day: date) -> Loan:
    """A new loan priced on the borrower's score; its late risk rises with score, size and rate."""
    score = person.credit_score
    principal = max(500.0, round(person.annual_income * rng.uniform(*product.income_multiple), -2))
    rate = product.base_rate + product.risk_spread * (850 - score) / 550 + rng.gauss(0, 0.01)
    rate = round(min(0.35, max(0.02, rate)), 4)
    logit = (-5.4 + 1.3 * (700 - score) / 100
             + 0.6 * math.log(principal / person.annual_income / 0.3) + 10 * (rate - 0.10))
    drawn = principal * rng.uniform(0.2, 0.8) if product.name == "credit_line" else principal
    return Loan(
        loan_id=f"L{number:07d}",
        customer_id=person.customer_id or "",
        product=product,
        principal=principal,
        rate=rate,
        term=term,
        origination=month_last_day.replace(day=rng.randint(1, month_last_day.day)),
        monthly_late_risk=1 / (1 + math.exp(-logit)),
        balance=drawn,
    )


def _month_shift(day: date, months: int) -> date:
    """Last day of the month `months` away from day's month."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    return month_end(year, month + 1)

