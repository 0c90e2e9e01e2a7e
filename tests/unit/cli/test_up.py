"""faasq up: its options, the child specs it builds (order, environment, stop phases), its banner."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from faasq.children import (
    NatsAddress,
    StackPlan,
    connector_spec,
    nats_spec,
    parse_nats_url,
    reserve_port,
    share_port,
    stack_children,
)
from faasq.cli import build_parser
from faasq.errors import StackFailed
from faasq.stack import StackFunction
from faasq.up import Running, banner, extra_queues
from faasq.up_options import MAX_DEFAULT_GATEWAYS, UpOptions, default_gateway_processes
from tests.support.cli import Cli
from tests.support.sockets import bound_socket

ENVIRON = {"HOME": "/home/x", "port": "1", "listen_fd": "99"}


def test_defaults() -> None:
    args = build_parser().parse_args(["up"])
    assert (args.yaml, args.port, args.state_dir, args.workers, args.nats_url, args.timeout, args.ready_file) == (
        None,
        8080,
        ".faasq",
        2,
        None,
        60.0,
        None,
    )


def test_every_option() -> None:
    argv = ["up", "-f", "s.yml", "--port", "0", "--state-dir", "st", "--workers", "3"]
    argv += ["--nats-url", "nats://h:1", "--timeout", "5", "--ready-file", "r.json"]
    args = build_parser().parse_args(argv)
    assert (args.yaml, args.port, args.state_dir, args.workers, args.nats_url, args.timeout, args.ready_file) == (
        "s.yml",
        0,
        "st",
        3,
        "nats://h:1",
        5.0,
        "r.json",
    )


@pytest.mark.parametrize("workers", ["-1", "two"])
def test_a_bad_worker_count_is_a_usage_error(workers: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["up", "--workers", workers])
    assert exited.value.code == 2
    assert "argument --workers" in capsys.readouterr().err


def test_help_documents_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["up", "--help"])
    text = capsys.readouterr().out
    for option in ("--yaml", "--port", "--state-dir", "--workers", "--nats-url", "--timeout", "--ready-file"):
        assert option in text
    assert "stops everything in order: the gateway, the workers" in " ".join(text.split())


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("nats://127.0.0.1:4333", NatsAddress("127.0.0.1", 4333)),
        ("nats://nats.example", NatsAddress("nats.example", 4222)),
        ("nats://a:1, nats://b:2,nats://c", NatsAddress("a", 1, more=("nats://b:2", "nats://c"))),
    ],
)
def test_nats_urls(url: str, address: NatsAddress) -> None:
    assert parse_nats_url(url) == address
    assert address.url == ",".join((f"nats://{address.host}:{address.port}", *address.more))


@pytest.mark.parametrize("url", ["http://h:4222", "nats://", "nats://h:notaport", "h:4222", "nats://a,nats://"])
def test_bad_nats_urls(url: str) -> None:
    with pytest.raises(StackFailed, match=r"^invalid NATS URL .*: expected nats://HOST\[:PORT\]$"):
        parse_nats_url(url)


@pytest.fixture
def plan(tmp_path: Path) -> Iterator[StackPlan]:
    with bound_socket() as provider, bound_socket() as gateway:
        yield StackPlan(tmp_path, ENVIRON, NatsAddress("127.0.0.1", 4333), provider, (gateway,), workers=2)


def test_children_in_start_order_with_stop_phases(plan: StackPlan) -> None:
    children = stack_children(plan)
    assert [(c.name, c.stop_order) for c in children] == [
        ("provider", 2),
        ("gateway-1", 0),
        ("autoscaler", 0),
        ("worker-1", 1),
        ("worker-2", 1),
    ]
    assert [c.argv[1:] for c in children] == [
        ["-m", "provider.main"],
        ["-m", "gateway.main"],
        ["-m", "autoscaler.main"],
        ["-m", "queue_worker.main", "--queue", "default"],
        ["-m", "queue_worker.main", "--queue", "default"],
    ]
    assert {c.argv[0] for c in children} == {sys.executable}
    idle = StackPlan(**{**plan.__dict__, "workers": 0})
    assert [c.name for c in stack_children(idle)] == ["provider", "gateway-1", "autoscaler"]


def test_provider_and_gateway_inherit_their_sockets(plan: StackPlan, tmp_path: Path) -> None:
    provider, gateway, *_ = stack_children(plan)
    provider_port, gateway_port = plan.provider.getsockname()[1], plan.gateways[0].getsockname()[1]
    assert provider.pass_fds == (plan.provider.fileno(),)
    assert provider.env == {
        "HOME": "/home/x",
        "bind_address": "127.0.0.1",
        "port": str(provider_port),
        "listen_fd": str(plan.provider.fileno()),
        "state_dir": str(plan.state_dir / "provider"),
        "builds_dir": str(plan.state_dir / "builds"),  # where faasq up builds lang: functions
    }
    assert provider.ready_url == f"http://127.0.0.1:{provider_port}/healthz"
    assert gateway.pass_fds == (plan.gateways[0].fileno(),)
    assert gateway.env == {
        "HOME": "/home/x",
        "functions_provider_url": f"http://127.0.0.1:{provider_port}/",
        "faas_nats_address": "127.0.0.1",
        "faas_nats_port": "4333",
        "bind_address": "127.0.0.1",
        "port": str(gateway_port),
        "listen_fd": str(plan.gateways[0].fileno()),
        "ready_file": str(tmp_path.resolve() / "run" / "gateway-1.ready"),
    }
    # Any gateway process may answer on the port: each says it is ready in a file of its own.
    assert gateway.ready_url is None
    assert gateway.ready is not None
    assert gateway.ready() is False
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "gateway-1.ready").write_text("1234\n")
    assert gateway.ready() is True


def test_a_cluster_given_as_a_list_reaches_every_child_as_nats_servers(plan: StackPlan) -> None:
    cluster = parse_nats_url("nats://a:1,nats://b:2")
    children = stack_children(StackPlan(**{**plan.__dict__, "nats": cluster}))
    by_name = {child.name: child for child in children}
    for name in ("gateway-1", "worker-1", "worker-2"):
        assert by_name[name].env["nats_servers"] == "nats://a:1,nats://b:2"
        assert "faas_nats_address" not in by_name[name].env


def test_workers_invoke_the_provider_which_outlives_them_and_drain_longer(plan: StackPlan) -> None:
    provider, gateway, _, worker, _ = stack_children(plan)
    assert worker.env == {
        **ENVIRON,
        "faas_nats_address": "127.0.0.1",
        "faas_nats_port": "4333",
        "gateway_invoke": "false",
        "functions_provider_url": f"http://127.0.0.1:{plan.provider.getsockname()[1]}/",
    }
    assert (worker.pass_fds, worker.ready_url, worker.ready) == ((), None, None)
    # The gateway stops first and takes no new call; the provider outlives the calls the workers drain.
    assert gateway.stop_order < worker.stop_order < provider.stop_order
    assert worker.stop_timeout is not None
    assert worker.stop_timeout > 30  # the worker's own drain must finish before the SIGKILL


def test_nats_starts_on_a_kernel_port_and_restarts_on_its_own(tmp_path: Path) -> None:
    first, again = nats_spec(tmp_path, ENVIRON), nats_spec(tmp_path, ENVIRON, port=4333, monitor_port=8222)
    log = f"{tmp_path}/nats-server.log"
    assert first.argv[1:] == ["-a", "127.0.0.1", "-p", "-1", "-js", "-sd", str(tmp_path), "-l", log, "-m", "-1"]
    assert again.argv[1:] == ["-a", "127.0.0.1", "-p", "4333", "-js", "-sd", str(tmp_path), "-l", log, "-m", "8222"]
    assert (first.name, first.stop_order, first.env) == ("nats", 3, ENVIRON)
    assert first.ready is not None
    assert first.ready() is False  # no log yet
    (tmp_path / "nats-server.log").write_text("[1] [FTL] Error listening on port: 4333, address already in use\n")
    with pytest.raises(StackFailed, match=r"^nats-server failed: Error listening on port: 4333"):
        first.ready()


def running(url: str = "http://127.0.0.1:8080", functions: list[str] | None = None, nats: bool = True) -> Running:
    names = ["echo", "wc"] if functions is None else functions
    monitor = "http://127.0.0.1:8222" if nats else None
    return Running(url, "http://127.0.0.1:4000", "nats://127.0.0.1:4222", monitor, ".faasq", 2, names)


def test_banner_on_the_default_port() -> None:
    assert banner(running()) == [
        "faasq is up: http://127.0.0.1:8080",
        "Gateway:   http://127.0.0.1:8080 (1 process; API docs at http://127.0.0.1:8080/docs)",
        "Metrics:   http://127.0.0.1:8080/metrics (Prometheus: every process of the stack)",
        "NATS:      nats://127.0.0.1:4222 (JetStream store in .faasq/nats)",
        "Monitor:   http://127.0.0.1:8222 (NATS: /connz, /jsz?consumers=true)",
        "State dir: .faasq",
        "Workers:   2",
        "Functions: echo, wc",
        "Try:",
        "  echo hi | faasq invoke echo",
        "  echo hi | faasq invoke echo --async --callback-url http://127.0.0.1:9000/cb",
        "  curl -i -X POST -H 'X-Callback-Url: http://127.0.0.1:9000/cb' -d hi "
        "http://127.0.0.1:8080/async-function/echo",
        "  faasq list",
        "  faasq describe echo",
        "  faasq logs echo",
        "Press Ctrl+C to stop.",
    ]


def test_banner_elsewhere_says_how_to_point_the_cli_at_it() -> None:
    lines = banner(running("http://127.0.0.1:9999", ["hello"], nats=False))
    assert lines[3] == "NATS:      nats://127.0.0.1:4222 (external)"
    assert lines[8:10] == ["  export OPENFAAS_URL=http://127.0.0.1:9999", "  echo hi | faasq invoke hello"]
    assert banner(running(functions=[]))[7] == "Functions: (none)"


def test_a_bad_nats_url_fails_before_anything_starts(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "stack.yml").write_text("functions:\n  echo: {fprocess: cat}\n")
    cli.environ["FAASQ_NATS_URL"] = "http://127.0.0.1:4222"
    argv = ["up", "-f", str(tmp_path / "stack.yml"), "--state-dir", str(tmp_path / "state"), "--port", "0"]
    assert cli(*argv) == 1
    assert cli.stderr == "faasq: invalid NATS URL 'http://127.0.0.1:4222': expected nats://HOST[:PORT]\n"
    assert not (tmp_path / "state").exists()
    assert cli(*argv, "--nats-url", "nats:/nohost") == 1
    assert cli.stderr == "faasq: invalid NATS URL 'nats:/nohost': expected nats://HOST[:PORT]\n"


def test_each_other_queue_named_by_a_function_gets_a_worker(plan: StackPlan) -> None:
    children = stack_children(StackPlan(**{**plan.__dict__, "workers": 1, "queues": ("slow", "zip")}))
    assert [(c.name, c.argv[-1]) for c in children[3:]] == [
        ("worker-1", "default"), ("worker-slow-1", "slow"), ("worker-zip-1", "zip"),
    ]  # fmt: skip
    assert [c.name for c in stack_children(StackPlan(**{**plan.__dict__, "workers": 0, "queues": ("slow",)}))] == [
        "provider", "gateway-1", "autoscaler",
    ]  # fmt: skip


def test_the_queues_come_from_the_functions_annotations() -> None:
    functions = [
        StackFunction(name="a", annotations={"com.openfaas.queue": "slow"}),
        StackFunction(name="b", annotations={"com.openfaas.queue": "default"}),
        StackFunction(name="c", annotations={"com.openfaas.queue": "batch"}),
        StackFunction(name="d", annotations={"com.openfaas.queue": "slow"}),
        StackFunction(name="e"),
    ]
    assert extra_queues(functions) == ("batch", "slow")
    with pytest.raises(StackFailed, match=r"^function bad: com.openfaas.queue: invalid queue name 'a.b'"):
        extra_queues([StackFunction(name="bad", annotations={"com.openfaas.queue": "a.b"})])


def test_the_banner_names_the_other_queues() -> None:
    lines = banner(Running("http://127.0.0.1:8080", "p", "n", None, "s", 2, ["a"], queues=["batch", "slow"]))
    assert lines[5] == "Workers:   2, and one for each other queue: batch, slow"


def _function(name: str, **annotations: str) -> StackFunction:
    return StackFunction.model_validate({"name": name, "annotations": annotations})


def test_connectors_cron_when_a_function_is_scheduled_webhook_with_a_config() -> None:
    scheduled = _function("tick", topic="a, cron-function", schedule="@hourly")
    unscheduled = _function("other", topic="cron-function")
    plain = up_options("up")
    assert plain.connectors_for([unscheduled]) == []
    assert plain.connectors_for([scheduled, unscheduled]) == ["cron"]
    asked = up_options("up", "--connector", "mine", "--connector", "cron", "--webhook-config", "w.yml")
    assert asked.connectors_for([]) == ["cron", "mine", "webhook"]
    assert (asked.webhook_port, asked.webhook_config) == (8085, Path("w.yml"))


def test_a_redis_url_runs_the_redis_connector_with_its_streams_and_channels() -> None:
    options = up_options("up", "--redis-url", "redis://r:6379/1", "--redis-streams", "orders,audit")
    assert options.connectors_for([]) == ["redis"]
    assert options.redis_settings() == {"redis_url": "redis://r:6379/1", "redis_streams": "orders,audit"}
    spec = connector_spec("redis", "http://g", ENVIRON, None, **options.redis_settings())
    assert spec.argv == [sys.executable, "-m", "connectors.main", "redis"]
    assert (spec.env["redis_url"], spec.env["redis_streams"], spec.env["gateway_url"]) == (
        "redis://r:6379/1",
        "orders,audit",
        "http://g",
    )
    assert "redis_channels" not in spec.env
    assert up_options("up").connectors_for([]) == []


def up_options(*argv: str) -> UpOptions:
    return UpOptions.from_args(build_parser().parse_args(argv))


def test_the_options_are_read_once_into_their_types() -> None:
    options = up_options("up", "-f", "s.yml", "--port", "0", "--state-dir", "st", "--workers", "0", "--ready-file", "r")
    assert options == UpOptions(stack_file=Path("s.yml"), port=0, state_dir=Path("st"), workers=0, ready_file=Path("r"))
    assert up_options("up") == UpOptions()


def test_a_connector_child_runs_faasq_connector_against_the_gateway() -> None:
    cron = connector_spec("cron", "http://127.0.0.1:1", ENVIRON)
    assert cron.argv == [sys.executable, "-m", "connectors.main", "cron"]
    assert (cron.env["gateway_url"], cron.ready_url, cron.pass_fds, cron.stop_order) == (
        "http://127.0.0.1:1",
        None,
        (),
        0,
    )
    with bound_socket() as sock:
        hook = connector_spec("webhook", "http://g", ENVIRON, sock, webhook_config="/w.yml")
        port = sock.getsockname()[1]
        assert hook.env["listen_fd"] == str(sock.fileno())
        assert (hook.env["port"], hook.env["webhook_config"]) == (str(port), "/w.yml")
        assert hook.ready_url == f"http://127.0.0.1:{port}/healthz"
        assert hook.pass_fds == (sock.fileno(),)


def test_the_banner_lists_connectors_and_the_webhook_url() -> None:
    running = Running(
        "http://g", "http://p", "nats://n", None, "/s", 1, connectors=["cron", "webhook"], webhooks="http://w/webhook/"
    )
    lines = banner(running)
    assert "Connectors: cron, webhook" in lines
    assert "Webhooks:  POST http://w/webhook/<topic>" in lines
    assert not [
        line for line in banner(Running("http://g", "http://p", "nats://n", None, "/s", 1)) if "Connectors" in line
    ]


def test_the_autoscaler_reads_and_scales_through_the_gateway_and_counts_with_the_stack(plan: StackPlan) -> None:
    [autoscaler] = [c for c in stack_children(plan) if c.name == "autoscaler"]
    assert autoscaler.env == {**plan.counted, "gateway_url": f"http://127.0.0.1:{plan.gateways[0].getsockname()[1]}"}
    assert (autoscaler.pass_fds, autoscaler.stop_order) == ((), 0)


def test_gateway_processes_default_to_the_usable_cores_at_most_four() -> None:
    assert up_options("up").gateways == default_gateway_processes()
    assert default_gateway_processes() == min(MAX_DEFAULT_GATEWAYS, len(os.sched_getaffinity(0)))
    assert up_options("up", "--gateway-processes", "3").gateways == 3


@pytest.mark.parametrize("count", ["0", "-2", "many"])
def test_a_bad_gateway_process_count_is_a_usage_error(count: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["up", "--gateway-processes", count])
    assert exited.value.code == 2
    assert "argument --gateway-processes" in capsys.readouterr().err


def test_each_gateway_process_serves_its_own_socket_on_the_one_port(plan: StackPlan) -> None:
    with reserve_port(0, shared=True) as first, share_port(first) as second, share_port(first) as third:
        sockets = (first, second, third)
        assert len({sock.getsockname() for sock in sockets}) == 1
        children = stack_children(StackPlan(**{**plan.__dict__, "gateways": sockets}))
        gateways = [c for c in children if c.argv[1:] == ["-m", "gateway.main"]]
        assert [c.name for c in gateways] == ["gateway-1", "gateway-2", "gateway-3"]
        assert [c.pass_fds for c in gateways] == [(sock.fileno(),) for sock in sockets]
        assert [c.env["listen_fd"] for c in gateways] == [str(sock.fileno()) for sock in sockets]
        assert len({c.env["ready_file"] for c in gateways}) == 3
        assert {c.env["port"] for c in gateways} == {str(first.getsockname()[1])}


def test_a_shared_port_that_something_else_holds_is_refused() -> None:
    with reserve_port(0) as taken:
        with pytest.raises(StackFailed, match=r"^port \d+ on 127.0.0.1 is already in use"):
            reserve_port(taken.getsockname()[1], shared=True)
        with pytest.raises(StackFailed, match=r"^cannot open another socket on 127.0.0.1:\d+: "):
            share_port(taken)  # bound without SO_REUSEPORT: it cannot be shared


def test_the_banner_says_how_many_gateway_processes_serve() -> None:
    lines = banner(Running("http://g", "http://p", "nats://n", None, "/s", 1, gateway_processes=2))
    assert lines[1] == "Gateway:   http://g (2 processes; API docs at http://g/docs)"
