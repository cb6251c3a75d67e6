"""Daily card transactions in the public Sparkov layout, with a real fraud signal."""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass
from datetime import date
from itertools import accumulate
from random import Random

from lakehouse.generate.dates import epoch_seconds
from lakehouse.generate.people import Cardholder
from lakehouse.generate.reference import (
    CATEGORIES,
    FRAUD_HOUR_WEIGHTS,
    HOUR_WEIGHTS,
    MERCHANT_NAMES,
    MERCHANT_PATTERNS,
    Category,
)

COLUMNS: tuple[str, ...] = (
    "trans_date_trans_time", "cc_num", "merchant", "category", "amt", "first", "last", "gender",
    "street", "city", "state", "zip", "lat", "long", "city_pop", "job", "dob", "trans_num",
    "unix_time", "merch_lat", "merch_long", "is_fraud",
)
MERCHANTS_PER_CATEGORY = 25
MAX_AMOUNT = 2000.0
MIN_AMOUNT = 1.0
# Daily chance that a card is compromised; an episode then lasts 1-3 days with 1-3 frauds a day,
# which yields a fraud share of roughly 0.5-1% of all transactions.
COMPROMISE_RATE = 0.0012
HOUR_CUM = tuple(accumulate(HOUR_WEIGHTS))
FRAUD_HOUR_CUM = tuple(accumulate(FRAUD_HOUR_WEIGHTS))
FRAUD_CATEGORY_CUM = tuple(accumulate(category.fraud_weight for category in CATEGORIES))


@dataclass(frozen=True)
class Merchant:
    """A merchant always sells in one category."""

    name: str
    category: Category


@dataclass
class _Episode:
    """A compromised card: days of fraud left and frauds per day."""

    days_left: int
    per_day: int


def build_merchants(rng: Random) -> dict[str, tuple[Merchant, ...]]:
    """Unique merchant names in the public data's style (with its 'fraud_' prefix) per category."""
    seen: set[str] = set()
    merchants: dict[str, tuple[Merchant, ...]] = {}
    for category in CATEGORIES:
        chosen: list[Merchant] = []
        while len(chosen) < MERCHANTS_PER_CATEGORY:
            a, b, c = rng.sample(MERCHANT_NAMES, 3)
            name = "fraud_" + rng.choice(MERCHANT_PATTERNS).format(a=a, b=b, c=c)
            if name not in seen:
                seen.add(name)
                chosen.append(Merchant(name, category))
        merchants[category.name] = tuple(chosen)
    return merchants


class TransactionStream:
    """Generates each day's transactions in time order, carrying fraud episodes across days."""

    def __init__(self, seed: int, cardholders: tuple[Cardholder, ...]) -> None:
        self._rng = Random(f"{seed}:transactions")
        self._merchants = build_merchants(Random(f"{seed}:merchants"))
        self._cardholders = cardholders
        self._episodes: dict[int, _Episode] = {}

    def day(self, day: date) -> list[list[str]]:
        """All transactions of one day as CSV field lists, ordered by timestamp."""
        rng = self._rng
        midnight = epoch_seconds(day)
        timed: list[tuple[int, list[str]]] = []
        for index, holder in enumerate(self._cardholders):
            for _ in range(_poisson(rng, holder.daily_rate)):
                category = CATEGORIES[_pick(rng, holder.category_cum_weights)]
                second = _second_of_day(rng, HOUR_CUM)
                amount = _amount(rng, category.median_amount * holder.amount_scale, category.sigma)
                timed.append((second, self._row(day, midnight, second, holder, category, amount,
                                                fraud=False)))
            for _ in range(self._frauds_today(index)):
                category = CATEGORIES[_pick(rng, FRAUD_CATEGORY_CUM)]
                second = _second_of_day(rng, FRAUD_HOUR_CUM)
                amount = _amount(rng, category.fraud_median, category.fraud_sigma)
                timed.append((second, self._row(day, midnight, second, holder, category, amount,
                                                fraud=True)))
        timed.sort(key=lambda item: (item[0], item[1][17]))
        return [row for _, row in timed]

    def _frauds_today(self, index: int) -> int:
        """Frauds on this card today: continue an episode or start one at the compromise rate."""
        episode = self._episodes.get(index)
        if episode is None:
            if self._rng.random() >= COMPROMISE_RATE:
                return 0
            episode = _Episode(self._rng.randint(1, 3), self._rng.randint(1, 3))
            self._episodes[index] = episode
        episode.days_left -= 1
        if episode.days_left == 0:
            del self._episodes[index]
        return episode.per_day

    def _row(self, day: date, midnight: int, second: int, holder: Cardholder,
             category: Category, amount: float, *, fraud: bool) -> list[str]:
        """One transaction in the transactions.yaml layout order."""
        rng = self._rng
        person = holder.on(day)
        city = person.city
        merchant = rng.choice(self._merchants[category.name])
        hours, rest = divmod(second, 3600)
        return [
            f"{day.isoformat()} {hours:02d}:{rest // 60:02d}:{rest % 60:02d}",
            person.cc_num,
            merchant.name,
            category.name,
            f"{amount:.2f}",
            person.first,
            person.last,
            person.gender,
            person.street,
            city.name,
            city.state,
            city.zip,
            f"{city.lat:.4f}",
            f"{city.long:.4f}",
            str(city.population),
            person.job,
            person.dob.isoformat(),
            f"{rng.getrandbits(128):032x}",
            str(midnight + second),
            f"{city.lat + rng.uniform(-1.0, 1.0):.6f}",
            f"{city.long + rng.uniform(-1.0, 1.0):.6f}",
            "1" if fraud else "0",
        ]


def _poisson(rng: Random, mean: float) -> int:
    """Poisson draw by multiplying uniforms (fine for means around 1)."""
    limit = math.exp(-mean)
    count, product = 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _pick(rng: Random, cum_weights: tuple[float, ...]) -> int:
    """Index drawn with the given cumulative weights."""
    return bisect_left(cum_weights, rng.random() * cum_weights[-1])


def _second_of_day(rng: Random, hour_cum: tuple[float, ...]) -> int:
    """A second of the day whose hour follows the given profile."""
    return _pick(rng, hour_cum) * 3600 + rng.randrange(3600)


def _amount(rng: Random, median: float, sigma: float) -> float:
    """Log-normal amount, redrawn above the cap so the tail stays smooth, floored at 1.00."""
    amount = rng.lognormvariate(math.log(median), sigma)
    while amount > MAX_AMOUNT:
        amount = rng.lognormvariate(math.log(median), sigma)
    return round(max(MIN_AMOUNT, amount), 2)
