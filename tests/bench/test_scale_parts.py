"""The scale benchmark's pure parts: the window count behind the rate-limit proof, the
status mix of generated complaints, and the report table (no speed is asserted)."""

from __future__ import annotations

from bench.scale import SCALE_INDEXES, _scale_indexes, markdown
from bench.scale_fanout import max_in_window
from bench.scale_load import STATUS_MIX, _status_case


def test_max_in_window_counts_the_busiest_second() -> None:
    times = [0.0, 0.1, 0.2, 0.95, 1.05, 1.5, 3.0]
    assert max_in_window(times) == 4  # 0.1, 0.2, 0.95, 1.05
    assert max_in_window([]) == 0
    assert max_in_window([5.0]) == 1
    # A window is half open: something exactly one second later falls in the next one.
    assert max_in_window([0.0, 1.0, 2.0]) == 1


def test_status_mix_is_cumulative_and_ends_at_one_thousand() -> None:
    for _limit, mix in STATUS_MIX:
        edges = [edge for _status, edge in mix]
        assert edges == sorted(edges) and edges[-1] == 1000
    sql = _status_case("age", "draw")
    assert sql.count("CASE") == 1 + len(STATUS_MIX)
    assert "WHEN age < 2 THEN" in sql and "ELSE CASE" in sql


def test_scale_indexes_exist_in_the_models() -> None:
    import core_api.models  # noqa: F401

    assert [index.name for index in _scale_indexes()] == list(SCALE_INDEXES)


def test_markdown_pairs_before_and_after() -> None:
    text = markdown({"rows_bills": 10.0, "rows_complaints": 10.0, "path": "HTTP",
                     "before_bill_by_number_p99_ms": 3.5, "after_bill_by_number_p99_ms": 1.5,
                     "fanout_per_s": 900.0}, smoke=True)
    assert "| bill_by_number_p99_ms | 3.5 | 1.5 | <= 10 |" in text
    assert "| fanout_per_s | 900.0 |" in text
