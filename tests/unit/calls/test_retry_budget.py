"""The retry budget: retries within a share of the first attempts over a sliding window, or a floor."""

from calls.retry_budget import RetryBudget, RetryBudgets


def test_retries_are_allowed_up_to_the_share_of_first_attempts() -> None:
    budget = RetryBudget(share=0.2, window=60, floor=0)
    for _ in range(10):
        budget.first_attempt(now=1000)
    assert [budget.retry(now=1001) for _ in range(3)] == [True, True, False]
    assert budget.spent(now=1001) == (2, 10)


def test_the_floor_allows_retries_however_few_the_first_attempts() -> None:
    budget = RetryBudget(share=0.2, window=60, floor=3)
    budget.first_attempt(now=0)
    assert [budget.retry(now=1) for _ in range(4)] == [True, True, True, False]


def test_counts_age_out_of_the_window_a_slice_at_a_time() -> None:
    budget = RetryBudget(share=0.5, window=60, floor=0)
    for _ in range(4):
        budget.first_attempt(now=0)
    assert [budget.retry(now=10) for _ in range(3)] == [True, True, False]
    assert budget.spent(now=59) == (2, 4)
    assert budget.spent(now=61) == (2, 0)  # the first attempts' slice (0-6s) is gone, the retries' (6-12s) not yet
    assert budget.spent(now=73) == (0, 0)
    assert budget.retry(now=73) is False  # nothing earned in the window


def test_each_function_has_its_own_budget_and_0_is_none() -> None:
    budgets = RetryBudgets(share=0.2, window=60, floor=1)
    assert budgets.refusal("a", "ns", now=0) is None  # the floor
    refusal = budgets.refusal("a", "ns", now=0)
    assert refusal == (
        "not retried: the retry budget of a is spent (1 retries in the last 60s, for 0 first attempts: "
        "at most 20% of them, or 1)"
    )
    assert budgets.refusal("b", "ns", now=0) is None
    unlimited = RetryBudgets(share=0, window=60, floor=0)
    assert all(unlimited.refusal("a", "ns", now=0) is None for _ in range(100))
