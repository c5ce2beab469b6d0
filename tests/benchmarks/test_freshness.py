"""The freshness benchmark's own arithmetic: percentiles, summaries, what counts as a write."""

from __future__ import annotations

from benchmarks.freshness import (
    OWN_CHANGE_ENDPOINT,
    is_hubspot_write,
    median_of_passes,
    percentile,
    summary_ms,
    thirds_ms,
)


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


def _pass(p99: float, lost: int, rss: float, echo_writes: int = 0) -> dict:
    return {
        "rates": [
            {
                "rate": 20,
                "latency": {
                    "n": 600,
                    "median_ms": p99 / 2,
                    "p95_ms": p99,
                    "p99_ms": p99,
                    "max_ms": p99,
                    "thirds_ms": [p99 / 2] * 3,
                },
                "ack": {"all": {"median_ms": 5.0, "p99_ms": p99 / 10}},
                "calls_per_change": 1.5,
                "lost": lost,
                "duplicated": {"users_created": 0, "applied_twice": lost},
                "echo": {
                    "zendesk_deliveries": 700,
                    "runs_started_by_echoes_alone": 1,
                    "writes_to_hubspot_calls": echo_writes,
                },
                "backlog_at_end": {"queued_runs": 0, "received_deliveries": lost},
            }
        ],
        "memory": {"peak_rss_mb": rss, "peak_pss_mb": rss - 100, "sum_of_hwm_mb": rss + 10},
        "profile": None,
    }


def test_thirds_climb_with_a_growing_backlog_and_leave_out_changes_that_never_arrived():
    # made in scrambled order: the thirds follow when each change was scheduled
    growing = [(t, 0.1 * t) for t in (8, 0, 4, 1, 7, 5, 2, 3, 6)]
    assert thirds_ms(growing) == [100.0, 400.0, 700.0]
    level = [(t, 0.2) for t in range(6)] + [(6, None)]
    assert thirds_ms(level) == [200.0, 200.0, 200.0]
    assert thirds_ms([(0, None)]) == [None, None, None]


def test_passes_merge_as_medians_with_the_worst_pass_for_losses():
    merged = median_of_passes(
        [_pass(300.0, 0, 600.0), _pass(100.0, 2, 640.0), _pass(200.0, 0, 620.0, 1)]
    )
    rate = merged["rates"][0]
    assert rate["latency"]["p99_ms"] == 200.0
    assert rate["latency"]["p99_ms_passes"] == [300.0, 100.0, 200.0]
    assert rate["latency"]["median_ms"] == 100.0
    assert rate["latency"]["thirds_ms"] == [100.0, 100.0, 100.0]
    assert rate["ack"]["all"]["p99_ms"] == 20.0
    assert rate["lost"] == 2  # the worst pass, not a median that would hide it
    assert rate["duplicated"]["applied_twice"] == 2
    assert rate["echo"]["writes_to_hubspot_calls"] == 1
    assert merged["memory"]["peak_rss_mb"] == 620.0
    assert len(merged["passes"]) == 3


def test_one_pass_is_reported_as_it_is():
    one = _pass(150.0, 0, 600.0)
    assert median_of_passes([one]) is one
