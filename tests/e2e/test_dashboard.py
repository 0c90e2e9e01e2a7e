"""The dashboard as a person uses it: a real headless Chromium (the system's) on a whole ``faasq up`` stack.

Each test looks at what a user sees (headings, table cells, buttons by their role and name)
and saves a screenshot of each page it visits under its temporary directory.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.support.polling import eventually
from tests.support.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

STACK = """\
provider: {{name: openfaas}}
functions:
  echo:
    fprocess: cat
  gate:
    fprocess: sh -c 'test -f "$GATE_FILE" || {{ echo "the gate is closed" >&2; exit 3; }}; cat'
    environment: {{GATE_FILE: "{gate}"}}
  steps:
    fprocess: sh -c 'sleep 0.2; cat'
"""
WAIT_MS = 20_000
"""How long a user would look at a page for a number to change."""


@pytest.fixture(scope="module")
def gate_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gate") / "open"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, gate_file: Path) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("dashboard")
    stack_file = folder / "stack.yml"
    stack_file.write_text(STACK.format(gate=gate_file))
    running = Stack(stack_file, folder / "state", workers=2)
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "the browser tests need Chromium: sudo apt-get install -y chromium (make test installs it as root)"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser, stack: Stack) -> AsyncIterator[Page]:
    context = await browser.new_context(base_url=stack.url, viewport={"width": 1280, "height": 900})
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
    finally:
        await context.close()
    assert errors == [], f"the page's script failed: {errors}"


async def shot(page: Page, tmp_path: Path, name: str) -> None:
    await page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)


async def enqueue(stack: Stack, function: str, body: bytes = b"hello", **headers: str) -> str:
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as client:
        answer = await client.post(f"/async-function/{function}", content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    return answer.headers["x-call-id"]


def in_state(stack: Stack, call_id: str, state: str) -> Callable[[], Awaitable[bool | None]]:
    async def check() -> bool | None:
        async with httpx.AsyncClient(base_url=stack.url, timeout=10) as client:
            answer = await client.get(f"/async-calls/{call_id}")
        return True if answer.status_code == 200 and answer.json()["state"] == state else None

    return check


async def test_the_overview_shows_the_functions_and_its_numbers_move_without_a_reload(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    await page.goto("/ui/")
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    functions = page.get_by_role("table", name="Functions")
    for name in ("echo", "gate", "steps"):
        await expect(functions.get_by_role("link", name=name)).to_be_visible()
    echo = functions.get_by_role("row").filter(has=page.get_by_role("link", name="echo"))
    await expect(echo.get_by_role("cell").nth(1)).to_have_text("1/1")  # replicas ready / desired
    before = int((await echo.get_by_role("cell").nth(2).inner_text()).replace(",", ""))
    await page.evaluate("window.unreloaded = true")
    for n in range(5):
        await enqueue(stack, "echo", f"call {n}".encode())
    await expect(echo.get_by_role("cell").nth(2)).to_have_text(str(before + 5), timeout=WAIT_MS)
    queues = page.get_by_role("table", name="Queues")
    await expect(queues.get_by_role("cell", name="default", exact=True)).to_be_visible()
    await expect(page.get_by_role("img", name="Calls run a second over the last 15 minutes")).to_be_visible()
    assert await page.evaluate("window.unreloaded") is True  # the numbers moved in place
    await shot(page, tmp_path, "overview")


async def test_a_calls_page_tells_its_story(page: Page, stack: Stack, tmp_path: Path) -> None:
    call_id = await enqueue(stack, "echo", b"a story")
    await page.goto("/ui/calls")
    await page.get_by_label("Call id").fill(call_id)
    await page.get_by_role("button", name="Open call").click()
    await expect(page).to_have_url(f"{stack.url}/ui/calls/{call_id}")
    await expect(page.get_by_role("heading", name=f"Call {call_id}")).to_be_visible()
    story = page.get_by_role("list").filter(has_text="accepted on queue")
    await expect(story.get_by_role("listitem").filter(has_text="run 1 of")).to_be_visible(timeout=WAIT_MS)
    await expect(story.get_by_role("listitem").filter(has_text="HTTP 200")).to_contain_text("succeeded")
    await shot(page, tmp_path, "call")
    # The recent calls list it too, and a search by function finds it.
    await page.goto("/ui/calls?q=echo")
    await expect(page.get_by_role("table", name="Recent calls").get_by_role("link", name=call_id)).to_be_visible()
    await shot(page, tmp_path, "calls")


async def test_a_failed_call_is_redriven_from_the_dead_letters_page(
    page: Page, stack: Stack, gate_file: Path, tmp_path: Path
) -> None:
    call_id = await enqueue(stack, "gate", b"let me through", **{"X-Retry-Attempts": "1"})
    await eventually(in_state(stack, call_id, "dead"), within=20)
    await page.goto("/ui/dead-letters")
    group = page.get_by_role("row").filter(has=page.get_by_role("link", name=call_id))
    await expect(group).to_contain_text("gate")
    await expect(group).to_contain_text("HTTP 500 after 1 attempt")
    await shot(page, tmp_path, "dead-letters")
    await asyncio.to_thread(gate_file.touch)  # the function is fixed: its dead letters may run again
    await group.get_by_role("button", name="Redrive group").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("Redrive the 1 dead letters of gate")
    await dialog.get_by_role("button", name="Confirm").click()
    await expect(page.get_by_role("status").first).to_have_text("1 call queued again.")
    await page.goto(f"/ui/calls/{call_id}")
    await expect(page.get_by_role("listitem").filter(has_text="HTTP 200")).to_contain_text("succeeded", timeout=WAIT_MS)
    await shot(page, tmp_path, "redriven")


async def test_a_batch_progress_bar_fills_to_completion(page: Page, stack: Stack, tmp_path: Path) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as client:
        answer = await client.post("/async-batches/steps", json=[f"item {n}" for n in range(30)])
    assert answer.status_code == 202, answer.text
    batch_id = answer.json()["batch_id"]
    await page.goto("/ui/batches")
    row = page.get_by_role("row").filter(has_text=batch_id)
    progress = row.get_by_role("progressbar")
    await expect(progress).to_be_visible()
    await expect(row).to_contain_text("30/30", timeout=WAIT_MS)
    await expect(progress).to_have_attribute("value", "30")
    await expect(row).to_contain_text("finished")
    await shot(page, tmp_path, "batches")


async def test_a_function_is_invoked_from_its_page(page: Page, stack: Stack, tmp_path: Path) -> None:
    await page.goto("/ui/functions")
    echo = page.get_by_role("region", name="echo")
    await echo.get_by_label("Body").fill("héllo from the page ✓")
    await echo.get_by_role("button", name="Invoke echo").click()
    await expect(echo.get_by_role("status")).to_contain_text("HTTP 200")
    await expect(echo.get_by_role("status")).to_contain_text("héllo from the page ✓")
    await echo.get_by_label("Asynchronously").check()
    await echo.get_by_role("button", name="Invoke echo").click()
    await expect(echo.get_by_role("status")).to_contain_text("Accepted: call")
    await shot(page, tmp_path, "functions")
    await echo.get_by_role("status").get_by_role("link").click()
    await expect(page.get_by_role("listitem").filter(has_text="HTTP 200")).to_contain_text("succeeded", timeout=WAIT_MS)


async def test_the_pages_work_from_the_keyboard_in_a_narrow_dark_window(
    browser: Browser, stack: Stack, tmp_path: Path
) -> None:
    context = await browser.new_context(base_url=stack.url, viewport={"width": 400, "height": 800}, color_scheme="dark")
    page = await context.new_page()
    try:
        await page.goto("/ui/")
        await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(13, 17, 23)"  # the dark palette, as the system asks
        # Nothing wider than the window but the tables, which scroll in their own box.
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        # From the keyboard: the skip link first, then the navigation.
        await page.keyboard.press("Tab")
        await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
        for _ in range(3):  # faasq, Overview, Calls
            await page.keyboard.press("Tab")
        await expect(page.get_by_role("link", name="Calls", exact=True)).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("heading", name="Calls")).to_be_visible()
        await expect(page.get_by_role("link", name="Calls", exact=True)).to_have_attribute("aria-current", "page")
        await shot(page, tmp_path, "narrow-dark")
    finally:
        await context.close()
