"""Functions laid out as ``faas-cli new`` lays them out, run by ``faasq up -f`` without Docker.

Two python3-http-shaped functions and one python3-flask-shaped function, each a template
whose server binds the fixed port 5000, as OpenFaaS's do: each answers as itself, sync and
async, one scaled to three replicas; and ``faasq build`` followed by a deploy through the
provider API, as ``faas-cli build`` and ``faas-cli deploy`` go.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.callbacks import Receiver, serving
from tests.support.paths import ROOT
from tests.support.polling import eventually
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

TEMPLATES = ROOT / "tests" / "fixtures" / "templates"

STACK = """\
version: 1.0
provider:
  name: openfaas
  gateway: http://127.0.0.1:8080
functions:
  first:
    lang: python3-http
    handler: ./first
    image: first:latest
  second:
    lang: python3-http
    handler: ./second
    image: second:latest
  third:
    lang: python3-flask
    handler: ./third
    image: third:latest
"""

HTTP_HANDLER = """\
import six  # from this handler's requirements.txt, installed in its environment


def handle(event, context):
    body = "{name} " + context.hostname + " " + event.body.decode()
    return {{"statusCode": 200, "body": body, "headers": {{"X-Six": six.__name__}}}}
"""

FLASK_HANDLER = """\
import os


def handle(req):
    return "third " + os.environ["HOSTNAME"] + " " + req
"""


def lay_out(folder: Path) -> Path:
    """``faas-cli new --lang python3-http first`` (and the others) as they leave a folder."""
    for name in ("python3-http", "python3-flask"):
        shutil.copytree(TEMPLATES / name, folder / "template" / name)
    for name in ("first", "second"):
        (folder / name).mkdir()
        (folder / name / "handler.py").write_text(HTTP_HANDLER.format(name=name))
        (folder / name / "requirements.txt").write_text("six\n")
        (folder / name / "__init__.py").write_text("")
    (folder / "third").mkdir()
    (folder / "third" / "handler.py").write_text(FLASK_HANDLER)
    (folder / "third" / "requirements.txt").write_text("")
    (folder / "stack.yml").write_text(STACK)
    return folder / "stack.yml"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack_file = lay_out(tmp_path_factory.mktemp("functions"))
    # The functions' environments are made and their requirements installed before the stack is up.
    running = Stack(stack_file, tmp_path_factory.mktemp("faasq"), workers=1, within=120)
    try:
        yield running
    finally:
        running.close()


async def test_each_function_answers_as_itself(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=20) as client:
        first = await client.post("/function/first", content=b"one")
        second = await client.post("/function/second", content=b"two")
        third = await client.post("/function/third", content=b"three")
    # "<function> <its replica's host name> <the body>"
    assert re.fullmatch(r"first first-[0-9a-f]{8} one", first.text)
    assert first.headers["x-six"] == "six"
    assert re.fullmatch(r"second second-[0-9a-f]{8} two", second.text)
    assert re.fullmatch(r"third third-[0-9a-f]{8} three", third.text)


async def test_a_function_scaled_to_three_answers_from_three_replicas(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=20) as client:
        scaled = await client.post("/system/scale-function/second", json={"serviceName": "second", "replicas": 3})
        assert scaled.status_code == 202

        async def three() -> bool | None:
            status = (await client.get("/system/function/second")).json()
            return True if status["availableReplicas"] == 3 else None

        await eventually(three, within=30, every=0.1)
        answers = {(await client.post("/function/second", content=b"x")).text for _ in range(9)}
        first = (await client.post("/function/first", content=b"x")).text
    assert len(answers) == 3  # three replicas, each its own host name, all "second"
    assert all(re.fullmatch(r"second second-[0-9a-f]{8} x", answer) for answer in answers)
    assert re.fullmatch(r"first first-[0-9a-f]{8} x", first)


async def test_async_calls_are_answered_by_their_own_function(stack: Stack) -> None:
    receiver = Receiver(senders=[stack.ready["pids"]["worker-1"]])
    with serving(receiver) as url:
        async with httpx.AsyncClient(base_url=stack.url) as client:
            queued = {}
            for name in ("first", "second", "third"):
                response = await client.post(
                    f"/async-function/{name}", content=name.encode(), headers={"X-Callback-Url": f"{url}/cb"}
                )
                assert response.status_code == 202
                queued[response.headers["x-call-id"]] = name

        async def all_back() -> dict[str, str] | None:
            seen = {key: calls[0].body.decode() for key, calls in receiver.by_call_id().items() if key in queued}
            return seen if len(seen) == len(queued) else None

        seen = await eventually(all_back, within=30, every=0.05)
    for call_id, name in queued.items():
        assert re.fullmatch(rf"{name} {name}-[0-9a-f]{{8}} {name}", seen[call_id])


async def test_faasq_build_then_a_deploy_through_the_provider_api(stack: Stack, tmp_path: Path) -> None:
    # faas-cli build, then faas-cli deploy: the image name and the template's fprocess, nothing more.
    assert stack.stack_file is not None
    (stack.stack_file.parent / "fourth").mkdir(exist_ok=True)
    (stack.stack_file.parent / "fourth" / "handler.py").write_text("def handle(req):\n    return 'fourth ' + req\n")
    extra = STACK + "  fourth:\n    lang: python3-flask\n    handler: ./fourth\n    image: fourth:latest\n"
    other = stack.stack_file.with_name("fourth.yml")
    other.write_text(extra)
    built = await asyncio.to_thread(
        stack.cli, "build", "-f", str(other), "--filter", "fourth", "--state-dir", str(stack.state_dir)
    )
    assert built.returncode == 0, built.stderr.decode()
    assert b"Built fourth as fourth:latest" in built.stderr
    deployment = {"service": "fourth", "image": "fourth:latest", "envProcess": "python index.py"}
    async with httpx.AsyncClient(base_url=stack.url, timeout=20) as client:
        assert (await client.post("/system/functions", json=deployment)).status_code == 202

        async def answers() -> str | None:
            response = await client.post("/function/fourth", content=b"4")
            return response.text if response.status_code == 200 else None

        assert await eventually(answers, within=30, every=0.1) == "fourth 4"
        unbuilt = {"service": "fifth", "image": "fifth:latest"}
        refused = await client.post("/system/functions", json=unbuilt)
    assert refused.status_code == 400
    assert "no local build ('faasq build -f stack.yml' makes one" in refused.text
