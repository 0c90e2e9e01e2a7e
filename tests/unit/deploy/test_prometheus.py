"""deploy/'s Prometheus finds every component that serves /metrics, and its rules read series faasq serves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram

import calls.metrics

BASE = Path(__file__).parents[3] / "deploy" / "base"
MANIFEST = [d for d in yaml.safe_load_all((BASE / "prometheus.yaml").read_text()) if d]
CONFIG = next(o for o in MANIFEST if o["kind"] == "ConfigMap")["data"]
RULES = [rule for group in yaml.safe_load(CONFIG["alert.rules.yml"])["groups"] for rule in group["rules"]]
SCRAPED_LABELS = {"gateway_service_count": {"function_name"}, "faasq_queue_pending_calls": {"queue"}}


def served() -> dict[str, set[str]]:
    """Every series name faasq serves, with its labels (a histogram's ``le`` included)."""
    names: dict[str, set[str]] = {}
    for metric in vars(calls.metrics).values():
        labels = set(getattr(metric, "_labelnames", ()))
        if isinstance(metric, Counter):
            names[f"{metric._name}_total"] = labels
        elif isinstance(metric, Histogram):
            names |= {f"{metric._name}_bucket": labels | {"le"}}
            names |= {f"{metric._name}_{suffix}": labels for suffix in ("count", "sum")}
        elif isinstance(metric, Gauge):
            names[metric._name] = labels
    assert set(calls.metrics.SCRAPED) == set(SCRAPED_LABELS)
    return names | SCRAPED_LABELS


def selectors(node: Any) -> list[Any]:
    """The vector selectors of a parsed PromQL expression, however deep."""
    if isinstance(node, promql_parser.VectorSelector):
        return [node]
    found = []
    for field in ("lhs", "rhs", "expr", "vector_selector", "param"):
        if (child := getattr(node, field, None)) is not None:
            found += selectors(child)
    for child in getattr(node, "args", None) or ():
        found += selectors(child)
    return found


def test_openfaas_autoscaling_rule_is_served_unchanged() -> None:
    [rule] = [r for r in RULES if r["alert"] == "APIHighInvocationRate"]
    expected = 'sum(rate(gateway_function_invocation_total{code="200"}[10s])) BY (function_name) > 5'
    assert (rule["expr"], rule["for"]) == (expected, "5s")


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule["alert"])
def test_each_rule_parses_and_reads_only_series_faasq_serves_by_their_labels(rule: dict[str, Any]) -> None:
    names = served()
    found = selectors(promql_parser.parse(rule["expr"]))
    assert found, rule["expr"]
    for selector in found:
        assert selector.name in names, f"{rule['alert']} reads {selector.name}, which faasq does not serve"
        matched = {m.name for m in selector.matchers.matchers} - {"__name__"}
        assert matched <= names[selector.name], f"{rule['alert']}: {selector.name} has no label {matched}"
    assert rule["labels"]["severity"]
    assert rule["annotations"]["summary"]


def test_the_queue_alerts_the_issue_asks_for_exist() -> None:
    exprs = " ".join(rule["expr"] for rule in RULES)
    assert "faasq_call_queue_wait_seconds_bucket" in exprs
    assert "faasq_dead_letters_total" in exprs


def test_the_scrape_job_keeps_annotated_pods_and_every_metrics_server_is_annotated() -> None:
    config = yaml.safe_load(CONFIG["prometheus.yml"])
    assert config["rule_files"] == ["/etc/prometheus/alert.rules.yml"]
    [job] = config["scrape_configs"]
    keep = job["relabel_configs"][0]
    assert keep == {
        "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
        "action": "keep",
        "regex": "true",
    }
    ports = {}
    for path in sorted(BASE.glob("*.yaml")):
        for obj in yaml.safe_load_all(path.read_text()):
            if obj and obj.get("kind") == "Deployment" and obj["metadata"]["name"] in ("gateway", "queue-worker"):
                annotations = obj["spec"]["template"]["metadata"]["annotations"]
                [container] = obj["spec"]["template"]["spec"]["containers"]
                env = {e["name"]: e["value"] for e in container.get("env", [])}
                declared = {p["containerPort"] for p in container["ports"]}
                assert annotations["prometheus.io.scrape"] == "true"
                assert annotations["prometheus.io.path"] == "/metrics"
                assert int(annotations["prometheus.io.port"]) in declared
                ports[obj["metadata"]["name"]] = (int(annotations["prometheus.io.port"]), env)
    assert ports["gateway"][0] == int(ports["gateway"][1]["port"])
    assert ports["queue-worker"][0] == int(ports["queue-worker"][1]["metrics_port"])
