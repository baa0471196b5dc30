"""The demo's own fraud check: subscribers agree per severity, every alerted transaction is in a
case, and a burst that joins one case is not reported as a mismatch."""

from __future__ import annotations

from collections import Counter

from offline_runtime.cli.demo import _print_fraud


def matrix(
    pager: dict[str, int], email: dict[str, int], analyst: dict[str, int], cases: dict[str, int]
) -> dict:
    return {
        "pager (SMS, CRITICAL|HIGH)": Counter(pager),
        "fraud team e-mail (MEDIUM+)": Counter(email),
        "analyst review queue (HIGH+)": Counter(analyst),
        "case management (all)": Counter(cases),
    }


def test_a_burst_joining_one_case_is_consistent() -> None:
    # 10 CRITICAL alerts, two of them on one card: 9 cases opened
    m = matrix(
        {"CRITICAL": 10}, {"CRITICAL": 10, "MEDIUM": 3}, {"CRITICAL": 10}, {"CRITICAL": 9, "MEDIUM": 3}
    )
    alerted = {f"T{i}" for i in range(13)}
    assert _print_fraud(m, alerted, alerted | {"T99"}) == []


def test_subscribers_that_disagree_and_alerts_outside_any_case_are_problems() -> None:
    m = matrix({"HIGH": 4}, {"HIGH": 5}, {"HIGH": 5, "MEDIUM": 1}, {"HIGH": 5})
    problems = _print_fraud(m, {"T1", "T2", "T3"}, {"T1"})
    assert "analyst review queue (HIGH+) received {'MEDIUM'}" in problems
    assert any(p.startswith("HIGH alerts differ between subscribers") for p in problems)
    assert "2 alerted transactions are in no case" in problems
    assert len(problems) == 3
