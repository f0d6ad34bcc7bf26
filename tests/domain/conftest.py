"""Fixtures of the domain tests: markets with and without fees (``tests.support.market``)."""

from __future__ import annotations

import pytest

from bourse.domain.fees import FeeSchedule
from tests.support.market import Market, new_market


@pytest.fixture
def m() -> Market:
    """A market without fees (fees are tested on their own)."""
    return new_market()


@pytest.fixture
def mf() -> Market:
    """A market with 0.1% maker / 0.2% taker fees."""
    return new_market(fees=FeeSchedule(maker=1000, taker=2000))
