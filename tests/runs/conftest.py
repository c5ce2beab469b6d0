from __future__ import annotations

import pytest

from connectors.memory.connector import reset_stores


@pytest.fixture(autouse=True)
def _fresh_stores():
    reset_stores()
    yield
    reset_stores()
