"""Scaling labels, clamping, restart backoff and rollout plans of the local provider."""

from datetime import timedelta

import pytest

from provider.errors import InvalidRequest
from provider.local.policy import (
    Backoff,
    Plan,
    ReplicaView,
    ScalePolicy,
    check_runnable,
    clamp_replicas,
    count_failures,
    plan_rollout,
    private_network,
    restart_delay,
    scale_policy,
)
from provider.types import FunctionDeployment, ScaleType

MIN = "com.openfaas.scale.min"
MAX = "com.openfaas.scale.max"
FACTOR = "com.openfaas.scale.factor"
ZERO = "com.openfaas.scale.zero"
DURATION = "com.openfaas.scale.zero-duration"
TYPE = "com.openfaas.scale.type"
TARGET = "com.openfaas.scale.target"
PROPORTION = "com.openfaas.scale.target-proportion"


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (None, ScalePolicy(1, 20, 10)),
        ({}, ScalePolicy(1, 20, 10)),
        ({MIN: "2"}, ScalePolicy(2, 20, 10)),
        ({MIN: "30"}, ScalePolicy(30, 30, 10)),
        ({MAX: "3"}, ScalePolicy(1, 3, 10)),
        ({MIN: " 2 ", MAX: "4", FACTOR: "0"}, ScalePolicy(2, 4, 0)),
        ({ZERO: "true", DURATION: "15m"}, ScalePolicy(1, 20, 10, zero=True, zero_duration=timedelta(minutes=15))),
        (
            {TYPE: "Queue", TARGET: "5", PROPORTION: "1"},
            ScalePolicy(type=ScaleType.QUEUE, target=5, target_proportion=1),
        ),
        ({TYPE: "rps", TARGET: "2.5"}, ScalePolicy(type=ScaleType.RPS, target=2.5)),
        ({TYPE: "capacity"}, ScalePolicy(type=ScaleType.CAPACITY, target=50, target_proportion=0.9)),
        ({"unrelated": "x"}, ScalePolicy(1, 20, 10)),
    ],
)
def test_scale_policy_reads_labels(labels: dict[str, str] | None, expected: ScalePolicy) -> None:
    assert scale_policy(labels) == expected


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({MIN: "one"}, "com.openfaas.scale.min must be an integer"),
        ({MIN: "0"}, "com.openfaas.scale.min must be at least 1"),
        ({MAX: "0"}, "com.openfaas.scale.max must be at least 1"),
        ({MIN: "3", MAX: "2"}, "com.openfaas.scale.min (3) exceeds com.openfaas.scale.max (2)"),
        ({FACTOR: "101"}, "com.openfaas.scale.factor must be between 0 and 100"),
        ({FACTOR: "-1"}, "com.openfaas.scale.factor must be between 0 and 100"),
        ({ZERO: "maybe"}, "com.openfaas.scale.zero must be true or false"),
        ({DURATION: "soon"}, "com.openfaas.scale.zero-duration"),
        ({DURATION: "0s"}, "com.openfaas.scale.zero-duration must be above 0"),
        ({TYPE: "cpu"}, "com.openfaas.scale.type must be one of rps, capacity, queue, got 'cpu'"),
        ({TARGET: "many"}, "com.openfaas.scale.target must be a number"),
        ({TARGET: "-5"}, "com.openfaas.scale.target must be above 0"),
        ({TARGET: "nan"}, "com.openfaas.scale.target must be above 0"),
        ({PROPORTION: "1.5"}, "com.openfaas.scale.target-proportion must be above 0 and at most 1"),
    ],
)
def test_scale_policy_rejects_bad_labels(labels: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message.replace("(", r"\(").replace(")", r"\)")):
        scale_policy(labels)


@pytest.mark.parametrize(
    ("requested", "policy", "expected"),
    [
        (3, ScalePolicy(1, 20, 20), 3),
        (0, ScalePolicy(1, 20, 20), 0),
        (0, ScalePolicy(2, 4, 20), 0),
        (-1, ScalePolicy(1, 20, 20), 0),
        (1, ScalePolicy(2, 4, 20), 2),
        (9, ScalePolicy(2, 4, 20), 4),
        (3, ScalePolicy(2, 4, 20), 3),
        (5, ScalePolicy(2, 4, 0), 2),
        (1, ScalePolicy(3, 3, 20), 3),
        (0, ScalePolicy(3, 3, 20), 0),
    ],
)
def test_clamp_replicas(requested: int, policy: ScalePolicy, expected: int) -> None:
    assert clamp_replicas(requested, policy) == expected


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 0.0), (1, 0.5), (2, 1.0), (3, 2.0), (6, 16.0), (7, 30.0), (1000, 30.0)],
)
def test_restart_delay_doubles_up_to_the_cap(failures: int, delay: float) -> None:
    assert restart_delay(failures, Backoff(initial=0.5, maximum=30.0)) == delay


@pytest.mark.parametrize(
    ("previous", "ran_for", "expected"),
    [(0, 0.1, 1), (3, 9.9, 4), (3, 10.0, 1), (7, 600.0, 1)],
)
def test_count_failures_resets_after_a_stable_run(previous: int, ran_for: float, expected: int) -> None:
    assert count_failures(previous, ran_for, Backoff(reset_after=10.0)) == expected


def views(*specs: str) -> list[ReplicaView]:
    """'a1+' = replica a of generation 1, available; 'b0-' = b of generation 0, not available."""
    return [ReplicaView(s[0], int(s[1]), s[2] == "+") for s in specs]


@pytest.mark.parametrize(
    ("desired", "generation", "replicas", "expired", "plan"),
    [
        (2, 0, [], False, Plan(start=2)),
        (2, 0, views("a0+", "b0-"), False, Plan()),
        (3, 0, views("a0+"), False, Plan(start=2)),
        (1, 0, views("a0+", "b0+", "c0-"), False, Plan(stop=("c", "b"))),
        (0, 0, views("a0+", "b0+"), False, Plan(stop=("b", "a"))),
        # A roll: old replicas serve until as many new ones are available.
        (2, 1, views("a0+", "b0+"), False, Plan(start=2)),
        (2, 1, views("a0+", "b0+", "c1-", "d1-"), False, Plan()),
        (2, 1, views("a0+", "b0+", "c1+", "d1-"), False, Plan(stop=("a",))),
        (2, 1, views("a0-", "b0+", "c1+", "d1-"), False, Plan(stop=("a",))),
        (2, 1, views("a0+", "b0+", "c1+", "d1+"), False, Plan(stop=("a", "b"))),
        (2, 1, views("a0+", "b0+", "c1-", "d1-"), True, Plan(stop=("a", "b"))),
        (0, 1, views("a0+", "c1-"), False, Plan(stop=("c", "a"))),
        (1, 2, views("a0+", "b1-"), False, Plan(start=1, stop=("b",))),
    ],
)
def test_plan_rollout(desired: int, generation: int, replicas: list[ReplicaView], expired: bool, plan: Plan) -> None:
    assert plan_rollout(desired, generation, replicas, roll_expired=expired) == plan


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "no fprocess/envProcess is set"),
        ({"envProcess": " "}, "no fprocess/envProcess is set"),
        ({"envProcess": "python3 'unbalanced"}, "cannot be split into words"),
        ({"envProcess": "cat\0"}, "must not contain NUL"),
        ({"envProcess": "cat", "envVars": {"A=B": "1"}}, "cannot be set in a process environment"),
        ({"envProcess": "cat", "envVars": {"": "1"}}, "cannot be set in a process environment"),
        ({"envProcess": "cat", "envVars": {"A": "x\0y"}}, "cannot be set in a process environment"),
    ],
)
def test_check_runnable_rejects(fields: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        check_runnable(FunctionDeployment.model_validate({"service": "fn", "image": "x", **fields}))


@pytest.mark.parametrize(
    "fields",
    [{"envProcess": "cat"}, {"envProcess": "python3 'my handler.py'", "envVars": {"mode": "http", "A": ""}}],
)
def test_check_runnable_accepts(fields: dict[str, object]) -> None:
    check_runnable(FunctionDeployment.model_validate({"service": "fn", **fields}))


@pytest.mark.parametrize(
    ("env_vars", "annotations", "private"),
    [
        ({"mode": "http"}, {}, True),  # its server binds a fixed port: a network of its own keeps it private
        ({}, {}, False),  # forked per call: it binds nothing
        ({"mode": "streaming"}, {}, False),
        ({"mode": "http"}, {"com.faasq.network": "host"}, False),
        ({}, {"com.faasq.network": "private"}, True),
    ],
)
def test_which_functions_get_a_network_of_their_own(
    env_vars: dict[str, str], annotations: dict[str, str], private: bool
) -> None:
    deployment = FunctionDeployment(service="fn", env_process="cat", env_vars=env_vars, annotations=annotations)
    assert private_network(deployment) is private


def test_a_network_choice_other_than_private_or_host_is_refused() -> None:
    deployment = FunctionDeployment(service="fn", env_process="cat", annotations={"com.faasq.network": "bridge"})
    with pytest.raises(InvalidRequest, match=r"com\.faasq\.network: 'bridge' is neither 'private' nor 'host'"):
        check_runnable(deployment)
