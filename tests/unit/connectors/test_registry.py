"""Finding connectors: built-ins, entry points of other packages, and clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from connectors.main import main
from connectors.registry import ConnectorNotFound, available, load
from tests.support.connector_kit import install_example
from tests.support.paths import ROOT

# In a fresh interpreter: this process has imported every connector already.
LAZY = """
import sys
from connectors.registry import available, load

BUILT_INS = ("connectors.cron.connector", "connectors.webhook.connector", "connectors.redis.connector", "redis")
def imported():
    return [name for name in BUILT_INS if name in sys.modules]

assert imported() == [], f"importing the registry imported {imported()}"
assert {"cron", "webhook"} <= set(available()), available()
assert imported() == [], f"listing the connectors imported {imported()}"
cron = load("cron")
assert cron is sys.modules["connectors.cron.connector"].CronConnector, cron
assert imported() == ["connectors.cron.connector"], f"loading cron imported {imported()}"
"""


def test_built_ins_load_lazily() -> None:
    done = subprocess.run([sys.executable, "-c", LAZY], capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert (done.returncode, done.stdout) == (0, ""), done.stderr


def test_an_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(ConnectorNotFound, match=r"unknown connector 'crn' .*did you mean 'cron'"):
        load("crn")


def test_a_package_adds_a_connector_through_its_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for path in install_example(tmp_path):
        monkeypatch.syspath_prepend(str(path))
    assert available()["lines"] == "faasq_lines:LinesConnector"
    connector = load("lines")
    assert connector.name == "lines"
    assert connector.settings_class().model_dump()["lines_topic"] == "lines"
    monkeypatch.delitem(sys.modules, "faasq_lines", raising=False)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_x:Thing", "needs the module 'no_such_module_x', which is missing"),
        ("json:NoSuchThing", "names 'json:NoSuchThing', which does not exist"),
        ("json:dumps", "is not a connectors.sdk.Connector subclass"),
    ],
)
def test_a_broken_entry_point_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, message: str
) -> None:
    dist_info = tmp_path / "broken-1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 1\n")
    (dist_info / "entry_points.txt").write_text(f"[faasq.connectors]\nbroken = {target}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConnectorNotFound, match=message):
        load("broken")


def test_the_command_lists_connectors_and_refuses_unknown_ones(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--list"])
    assert "cron\tconnectors.cron.connector:CronConnector" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="faasq-connector: unknown connector 'nope'"):
        main(["nope"])


def test_bad_settings_exit_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("default_timezone", "Nowhere/Land")
    with pytest.raises(SystemExit, match="faasq-connector cron: invalid settings: default_timezone: unknown time zone"):
        main(["cron"])
