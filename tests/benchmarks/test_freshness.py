"""The freshness benchmark's own arithmetic: percentiles, summaries, what counts as a write."""

from __future__ import annotations

from benchmarks.freshness import OWN_CHANGE_ENDPOINT, is_hubspot_write, percentile, summary_ms


def test_percentile_is_the_nearest_rank():
    values = [float(n) for n in range(1, 101)]  # 1..100, shuffled order does not matter
    assert percentile(list(reversed(values)), 50) == 51.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0


def test_summary_in_milliseconds_and_empty():
    assert summary_ms([0.010, 0.020, 0.030, 1.0]) == {
        "n": 4,
        "median_ms": 25.0,
        "p95_ms": 1000.0,
        "p99_ms": 1000.0,
        "max_ms": 1000.0,
    }
    assert summary_ms([]) == {
        "n": 0,
        "median_ms": None,
        "p95_ms": None,
        "p99_ms": None,
        "max_ms": None,
    }


def test_hubspot_writes_leave_out_reads_sent_as_posts_and_other_vendors():
    assert is_hubspot_write(OWN_CHANGE_ENDPOINT)
    assert is_hubspot_write("POST /hubspot/crm/v3/objects/{object_type}/batch/update")
    assert not is_hubspot_write("POST /hubspot/crm/v3/objects/{object_type}/search")
    assert not is_hubspot_write("POST /hubspot/crm/v3/objects/{object_type}/batch/read")
    assert not is_hubspot_write("GET /hubspot/crm/v3/objects/{object_type}")
    assert not is_hubspot_write("PUT /zendesk/api/v2/users/update_many.json")
