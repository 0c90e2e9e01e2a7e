"""Deployments and secrets of the local provider on disk."""

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from provider.errors import InvalidRequest, SecretExists, SecretNotFound
from provider.local.secretstore import SecretStore
from provider.local.state import StateStore, StoredFunction, atomic_write
from provider.types import FunctionDeployment, Secret


def record(name: str, replicas: int = 1) -> StoredFunction:
    deployment = FunctionDeployment(
        service=name,
        image="ghcr.io/openfaas/alpine:latest",
        namespace="openfaas-fn",
        env_process="cat",
        env_vars={"A": "1"},
        labels={"com.openfaas.scale.min": "2"},
        secrets=["token"],
    )
    return StoredFunction(
        deployment=deployment, replicas=replicas, created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_records_round_trip(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save("openfaas-fn", record("b", 3))
    store.save("openfaas-fn", record("a", 0))
    assert store.load("openfaas-fn") == [record("a", 0), record("b", 3)]
    assert store.load("elsewhere") == []


def test_record_json_uses_openfaas_names(tmp_path: Path) -> None:
    StateStore(tmp_path).save("openfaas-fn", record("a"))
    text = (tmp_path / "openfaas-fn" / "a.json").read_text()
    assert '"envProcess": "cat"' in text
    assert '"createdAt"' in text
    assert mode(tmp_path / "openfaas-fn" / "a.json") == 0o600


def test_save_replaces_and_remove_forgets(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save("openfaas-fn", record("a", 1))
    store.save("openfaas-fn", record("a", 4))
    assert store.load("openfaas-fn") == [record("a", 4)]
    store.remove("openfaas-fn", "a")
    store.remove("openfaas-fn", "a")
    assert store.load("openfaas-fn") == []
    assert list((tmp_path / "openfaas-fn").iterdir()) == []


def test_unreadable_records_are_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = StateStore(tmp_path)
    store.save("openfaas-fn", record("good"))
    (tmp_path / "openfaas-fn" / "bad.json").write_text("{not json")
    assert store.load("openfaas-fn") == [record("good")]
    assert "bad.json" in caplog.text


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "file"
    atomic_write(target, b"one")
    atomic_write(target, b"two", mode=0o640)
    assert target.read_bytes() == b"two"
    assert mode(target) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_secrets_crud_with_private_files(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "secrets")
    assert store.names("openfaas-fn") == []
    store.create(Secret(name="b", value="bee"), "openfaas-fn")
    store.create(Secret.model_validate({"name": "a", "rawValue": "AAEC"}), "openfaas-fn")
    assert store.names("openfaas-fn") == ["a", "b"]
    assert (tmp_path / "secrets" / "openfaas-fn" / "a").read_bytes() == b"\x00\x01\x02"
    assert mode(tmp_path / "secrets" / "openfaas-fn" / "b") == 0o600
    assert mode(tmp_path / "secrets" / "openfaas-fn") == 0o700
    with pytest.raises(SecretExists):
        store.create(Secret(name="b", value="other"), "openfaas-fn")
    assert (tmp_path / "secrets" / "openfaas-fn" / "b").read_text() == "bee"
    store.update(Secret(name="b", value="new"), "openfaas-fn")
    assert (tmp_path / "secrets" / "openfaas-fn" / "b").read_text() == "new"
    store.delete("b", "openfaas-fn")
    assert store.names("openfaas-fn") == ["a"]
    with pytest.raises(SecretNotFound):
        store.delete("b", "openfaas-fn")
    with pytest.raises(SecretNotFound):
        store.update(Secret(name="b", value="x"), "openfaas-fn")


@pytest.mark.parametrize("name", ["../escape", "a/b", "UPPER", "", "."])
def test_secret_names_cannot_escape_the_directory(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidRequest, match="invalid secret name"):
        SecretStore(tmp_path).delete(name, "openfaas-fn")


def test_copy_into_replaces_copies_and_drops_missing(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "secrets")
    store.create(Secret(name="a", value="one"), "openfaas-fn")
    target = tmp_path / "replica" / "secrets"
    store.copy_into(["a", "gone"], "openfaas-fn", target)
    assert (target / "a").read_text() == "one"
    assert mode(target / "a") == 0o600
    assert mode(target) == 0o700
    store.update(Secret(name="a", value="two"), "openfaas-fn")
    store.copy_into(["a"], "openfaas-fn", target)
    assert (target / "a").read_text() == "two"
    store.delete("a", "openfaas-fn")
    store.copy_into(["a"], "openfaas-fn", target)
    assert list(target.iterdir()) == []
