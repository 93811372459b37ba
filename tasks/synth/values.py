"""Clean, realistic values for one agency over consecutive years.

Every identity of the 2021 format holds in what this module produces; defects are planted later
(`tasks.synth.defects`). Across years the state carries over: this year's 上年结转 equals last
year's 结转下年度 per column, and 现行有效件数 grows by 制发 − 废止.
"""
from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal

from tasks import spec
from tasks.synth.agencies import Agency

Number = int | Decimal

APPLICANT_WEIGHTS = {
    "natural_person": 0.86, "commercial": 0.075, "research": 0.004,
    "public_interest": 0.008, "legal_service": 0.035, "other_org": 0.018,
}
OUTCOME_WEIGHTS = {
    "granted": 0.42, "partly_granted": 0.08,
    "denied_state_secret": 0.002, "denied_prohibited_by_law": 0.006,
    "denied_security_stability": 0.003, "denied_third_party": 0.02,
    "denied_internal_affairs": 0.012, "denied_process_info": 0.025,
    "denied_enforcement_file": 0.006, "denied_query_matter": 0.012,
    "unable_not_held": 0.19, "unable_needs_creation": 0.03, "unable_unclear": 0.02,
    "rejected_petition": 0.035, "rejected_duplicate": 0.03, "rejected_publication": 0.005,
    "rejected_excessive": 0.006, "rejected_confirmation": 0.01,
    "other_no_correction": 0.03, "other_fee_unpaid": 0.002, "other_other": 0.05,
}
assert set(OUTCOME_WEIGHTS) == set(spec.OUTCOME_ROWS)
APPEAL_WEIGHTS = {"upheld": 0.6, "corrected": 0.1, "other": 0.15, "pending": 0.15}


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _split(rng: random.Random, n: int, weights: dict[str, float]) -> Counter:
    keys = list(weights)
    return Counter(rng.choices(keys, weights=[weights[k] for k in keys], k=n)) if n else Counter()


def _requests_year(rng: random.Random, carried: dict[str, int], mean: float,
                   cf_rate: float) -> dict[str, int]:
    k = lambda row, col: spec.key("requests", row, col)  # noqa: E731
    cells: dict[str, int] = {}
    new = _split(rng, poisson(rng, mean), APPLICANT_WEIGHTS)
    for col in spec.APPLICANT_COLUMNS:
        n_new, n_co = new[col], carried.get(col, 0)
        avail = n_new + n_co
        cf = sum(1 for _ in range(avail) if rng.random() < cf_rate)
        outcomes = _split(rng, avail - cf, OUTCOME_WEIGHTS)
        cells[k("new", col)] = n_new
        cells[k("carried_over", col)] = n_co
        for row in spec.OUTCOME_ROWS:
            cells[k(row, col)] = outcomes[row]
        cells[k("total", col)] = avail - cf
        cells[k("carried_forward", col)] = cf
    for row in spec.REQUEST_ROWS:
        cells[k(row, "total")] = sum(cells[k(row, c)] for c in spec.APPLICANT_COLUMNS)
    return cells


def _appeals_year(rng: random.Random, apps: int) -> dict[str, int]:
    cells: dict[str, int] = {}
    rates = {"review": 0.05, "suit_direct": 0.025, "suit_after_review": 0.012}
    for g in spec.APPEAL_GROUPS:
        n = poisson(rng, apps * rates[g]) if apps else (1 if rng.random() < 0.005 else 0)
        parts = _split(rng, n, APPEAL_WEIGHTS)
        for p in spec.APPEAL_PARTS:
            cells[spec.key("appeals", "cases", f"{g}_{p}")] = parts[p]
        cells[spec.key("appeals", "cases", f"{g}_total")] = n
    return cells


def _decisions(rng: random.Random, typical: float) -> int:
    if typical <= 0:
        return 0
    if typical < 3 and rng.random() < 0.5:
        return 0
    return max(0, int(round(typical * math.exp(rng.gauss(0.0, 0.35)))))


def _fee(rng: random.Random) -> Decimal:
    r = rng.random()
    if r < 0.3:
        cents = rng.randint(1, 99)                  # 0.12 万元
    elif r < 0.8:
        cents = rng.randint(100, 2000)              # 1.00 … 20.00 万元
    else:
        cents = rng.randint(2000, 50000)
    return Decimal(cents).scaleb(-2)


def agency_series(agency: Agency, years: Sequence[int], seed: int) -> dict[int, dict[str, Number]]:
    """Clean values of all 200 cells for each year (years in any order; state runs in order)."""
    rng = random.Random(f"values/{seed}/{agency.name}")
    # Most small agencies receive no applications at all.
    zero_prob = 0.85 if agency.apps < 0.5 else 0.6 if agency.apps < 2 else 0.2 if agency.apps < 6 else 0.0
    active = rng.random() >= zero_prob
    cf_rate = rng.choice((0.0, 0.02, 0.05, 0.08)) if active else 0.0
    carried: dict[str, int] = {}
    if active and rng.random() < 0.3:
        carried = {c: v for c, v in _split(rng, poisson(rng, max(1.0, agency.apps * 0.06)),
                                            APPLICANT_WEIGHTS).items()}
    norm_in_force = rng.randint(3, 60) if agency.category != "township" else rng.randint(0, 8)
    reg_in_force = rng.randint(8, 40) if agency.issues_regulations else 0
    fee_payer = rng.random() < agency.fee_prob
    out: dict[int, dict[str, Number]] = {}
    for year in sorted(years):
        cells: dict[str, Number] = {}
        mean = agency.apps * math.exp(rng.gauss(0.0, 0.3)) if active else 0.0
        if active and mean < 1:
            mean = 1.0
        req = _requests_year(rng, carried, mean, cf_rate)
        cells.update(req)
        carried = {c: req[spec.key("requests", "carried_forward", c)] for c in spec.APPLICANT_COLUMNS}
        # 二 主动公开
        p = lambda row, col: spec.key("proactive", row, col)  # noqa: E731
        if agency.issues_regulations:
            issued = rng.choice((0, 0, 1, 1, 2, 3))
            repealed = min(reg_in_force, rng.choice((0, 0, 0, 1, 2)))
        else:
            issued = repealed = 0
        reg_in_force += issued - repealed
        cells[p("regulations", "issued")] = issued
        cells[p("regulations", "repealed")] = repealed
        cells[p("regulations", "in_force")] = reg_in_force
        if agency.category == "township":
            issued = rng.choice((0, 0, 0, 0, 1))
        elif agency.category == "government":
            issued = rng.randint(2, 16)
        else:
            issued = rng.choice((0, 0, 0, 1, 1, 2, 3, 5))
        repealed = min(norm_in_force, rng.choice((0, 0, 0, 1, 2, 4)))
        norm_in_force += issued - repealed
        cells[p("normative_documents", "issued")] = issued
        cells[p("normative_documents", "repealed")] = repealed
        cells[p("normative_documents", "in_force")] = norm_in_force
        cells[p("licensing", "decisions")] = _decisions(rng, agency.licensing)
        cells[p("penalty", "decisions")] = _decisions(rng, agency.penalty)
        cells[p("coercion", "decisions")] = _decisions(rng, agency.coercion)
        cells[p("fees", "amount")] = _fee(rng) if fee_payer and rng.random() < 0.85 else Decimal(0)
        # 四 复议诉讼
        cells.update(_appeals_year(rng, req[spec.key("requests", "new", "total")]))
        out[year] = {k: cells[k] for k in spec.KEYS_2021}
    return out
