"""Where faasq's HTTP behaviour follows OpenFaaS's to the letter, through a real gateway and provider."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import httpx
import pytest

from gateway.jetstream import MAX_HEADER_BYTES
from plumbing.release import git_revision
from tests.support.paths import ROOT
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

REDIRECTS = """
from http.server import BaseHTTPRequestHandler, HTTPServer

class Redirect(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(302)
        self.send_header("Location", "/elsewhere?from=function")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", 5000), Redirect).serve_forever()
"""


async def test_a_sync_response_carries_its_start_time_and_duration(gateway: httpx.AsyncClient) -> None:
    before = time.time_ns()
    response = await gateway.post("/function/echo", content=b"x")
    start = int(response.headers["x-start-time"])
    assert before <= start <= time.time_ns()
    assert float(response.headers["x-duration-seconds"]) > 0


@pytest.mark.parametrize("path", ["/function/", "/function/.openfaas-fn", "/function/.openfaas-fn/x"])
async def test_a_path_without_a_function_name_is_not_found(gateway: httpx.AsyncClient, path: str) -> None:
    response = await gateway.post(path, content=b"x")
    assert (response.status_code, response.text) == (
        404,
        "no function name in the path: use /function/<name>[.<namespace>]",
    )


async def test_system_info_names_the_commit(gateway: httpx.AsyncClient) -> None:
    version = (await gateway.get("/system/info")).json()["version"]
    sha = git_revision(ROOT)
    assert sha is not None  # the tests run in a checkout
    assert (version["sha"], version["release"]) == (sha, "0.1.0")
    assert version["sha"] == (await gateway.get("/system/info")).json()["provider"]["version"]["sha"]


async def test_listed_and_described_functions_carry_faas_function(gateway: httpx.AsyncClient) -> None:
    listed = {f["name"]: f["labels"] for f in (await gateway.get("/system/functions")).json()}
    assert listed["echo"] == {"faas_function": "echo"}
    described = (await gateway.get("/system/function/lane")).json()
    assert described["labels"] == {"faas_function": "lane"}


async def test_a_functions_redirect_reaches_the_caller_unfollowed(gateway: httpx.AsyncClient, tmp_path: Path) -> None:
    script = tmp_path / "redirects.py"
    script.write_text(REDIRECTS)
    deployment = {
        "service": "redirects",
        "image": "faasq/redirects:latest",
        "envProcess": f"{sys.executable} {script}",
        "envVars": {"mode": "http", "upstream_url": "http://127.0.0.1:5000"},
    }
    assert (await gateway.post("/system/functions", json=deployment)).status_code == 202
    try:

        async def ready() -> httpx.Response | None:
            response = await gateway.get("/function/redirects/start")
            return response if response.status_code == 302 else None

        response = await eventually(ready, within=20, every=0.05)
        assert response.headers["location"] == "/elsewhere?from=function"
    finally:
        await gateway.request("DELETE", "/system/functions", json={"functionName": "redirects"})


async def test_headers_over_jetstreams_limit_are_refused_with_431(gateway: httpx.AsyncClient) -> None:
    big = {"X-Big": "a" * MAX_HEADER_BYTES}
    response = await gateway.post("/async-function/echo", content=b"x", headers=big)
    assert response.status_code == 431
    assert re.fullmatch(r"request headers take \d+ bytes on the queue, over JetStream's limit of 65536", response.text)
    batch = await gateway.post("/async-batches/echo", json=["a"], headers=big)
    assert batch.status_code == 431
    assert (await gateway.post("/async-function/echo", content=b"x", headers={"X-Fine": "a" * 1000})).status_code == 202


async def test_pathological_json_to_the_system_api_is_a_400_and_the_next_request_succeeds(
    gateway: httpx.AsyncClient,
) -> None:
    deep = b"[" * 100_000
    refused = await gateway.post("/system/functions", content=deep, headers={"Content-Type": "application/json"})
    assert (refused.status_code, refused.text) == (400, "failed to unmarshal request: nested too deeply")
    nested = b'{"service": "x", "envVars": ' + b'{"a": ' * 3000 + b"1" + b"}" * 3001
    assert (await gateway.put("/system/functions", content=nested)).status_code == 400
    async with httpx.AsyncClient(base_url=gateway.base_url) as another:
        assert (await another.get("/system/functions")).status_code == 200
    assert (await gateway.get("/system/functions")).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "http://0/cb",
        "http://0.0.0.0:9000/cb",
        "http://2852039166/latest/meta-data",
        "http://0xa9.0xfe.0xa9.0xfe/",
        "http://0251.0376.0251.0376/",
        "http://169.254.43518/",
    ],
)
async def test_callback_urls_the_worker_would_refuse_are_refused_at_enqueue(
    gateway: httpx.AsyncClient, url: str
) -> None:
    response = await gateway.post("/async-function/echo", content=b"x", headers={"X-Callback-Url": url})
    assert response.status_code == 400
    assert response.text.startswith("X-Callback-Url refused: callback host ")
    assert "is a link-local, unspecified or cloud metadata address" in response.text


async def test_the_watchdogs_log_lines_read_like_openfaas(gateway: httpx.AsyncClient) -> None:
    assert (await gateway.post("/function/echo", content=b"hello")).status_code == 200
    go_log = re.compile(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} (.*)")

    async def per_call_lines() -> list[str] | None:
        response = await gateway.get("/system/logs", params={"name": "echo", "follow": "false"})
        texts = [json.loads(line)["text"] for line in response.text.splitlines() if line]
        messages = [match.group(1) for text in texts if (match := go_log.fullmatch(text))]
        found = [m for m in messages if m == "Forking fprocess." or m.startswith("Wrote 5 Bytes - Duration: ")]
        return found if len(found) >= 2 else None

    found = await eventually(per_call_lines, within=10, every=0.1)
    assert "Forking fprocess." in found
    assert any(re.fullmatch(r"Wrote 5 Bytes - Duration: \d+\.\d{6} seconds", m) for m in found)
