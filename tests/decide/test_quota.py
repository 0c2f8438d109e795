"""Quota arithmetic, pure: holds that fit or not, charges capped at the limit."""

import pytest

from seawall.decide.quota import charge, share_of, shortfall


def test_no_limit_never_falls_short():
    assert shortfall("tokens", None, 10**9, 10**9, 10**9) is None


def test_a_hold_that_exactly_fits_is_allowed_one_more_token_is_not():
    assert shortfall("tokens", 1000, 600, 300, 100) is None
    short = shortfall("tokens", 1000, 600, 300, 101)
    assert short is not None
    assert (short.unit, short.limit, short.used, short.held, short.wanted) == ("tokens", 1000, 600, 300, 101)
    assert not short.spent  # something is left, just not enough for this request


def test_a_spent_quota_says_so():
    short = shortfall("usd", 5.0, 5.0, 0.0, 0.01)
    assert short is not None and short.spent


def test_holds_in_flight_count_against_the_balance():
    assert shortfall("tokens", 1000, 0, 950, 51) is not None
    assert shortfall("tokens", 1000, 0, 950, 50) is None


def test_charge_is_the_cost_while_it_fits():
    assert charge(1000, 100, 250) == (250, 0)
    assert charge(None, 10**12, 250) == (250, 0)


def test_charge_never_takes_the_balance_below_zero_and_reports_the_excess():
    assert charge(1000, 900, 250) == (100, 150)
    assert charge(1000, 1000, 5) == (0, 5)
    assert charge(1000, 1200, 5) == (0, 5)  # already past (a limit lowered by an admin): nothing more


def test_a_negative_cost_charges_nothing():
    assert charge(1000, 10, -5) == (0, 0)


@pytest.mark.parametrize("limit,used,held,gateways,share", [
    (1000, 200, 0, 2, 600),  # 800 left, half of it on top of what is spent
    (1000, 200, 200, 2, 500),  # what others hold is not this gateway's to spend
    (1000, 1000, 0, 3, 1000),  # nothing left
    (1000, 900, 300, 2, 900),  # held past the limit: nothing to share, never negative
    (None, 5, 0, 2, None),
    (1.0, 0.5, 0.0, 1, 1.0),  # alone: the whole balance
])
def test_a_gateways_share_while_redis_is_down(limit, used, held, gateways, share):
    assert share_of(limit, used, held, gateways) == share


def test_gateways_spending_their_shares_spend_at_most_what_was_left():
    limit, used = 1000, 300
    shares = [share_of(limit, used, 0, 3) - used for _ in range(3)]
    assert sum(shares) == pytest.approx(limit - used)
