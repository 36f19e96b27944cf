"""Tests of the read models' slices."""

from __future__ import annotations

import pytest

from kith.readmodels import models


@pytest.fixture(autouse=True)
def forget_routes():
    """What this process learnt of tenants' own slices goes with the test (its database's tenant ids repeat)."""
    yield
    models._own_slices.clear()
