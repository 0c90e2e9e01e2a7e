"""The gateway as faas-cli sees it: URL resolution and a small synchronous HTTP client.

Every transport failure becomes :class:`GatewayUnreachable` and every unexpected status
:class:`GatewayError`, so commands never leak an httpx traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Container, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import TypeAdapter, ValidationError

from faasq.errors import GatewayError, GatewayUnreachable

__all__ = ["ANY_STATUS", "DEFAULT_GATEWAY", "SUCCESS", "Gateway", "decode", "error_message", "resolve_gateway"]

T = TypeVar("T")

DEFAULT_GATEWAY = "http://127.0.0.1:8080"
SUCCESS = range(200, 300)
ANY_STATUS = range(100, 600)


def resolve_gateway(flag: str | None, stack_gateway: str | None, environment_url: str | None) -> str:
    """The gateway URL, in faas-cli's order: ``--gateway``, the stack's ``provider.gateway``, ``OPENFAAS_URL``.

    As faas-cli does, a trailing ``/`` is dropped and a URL without a scheme gets ``http://``.
    """
    url = next((candidate for candidate in (flag, stack_gateway, environment_url) if candidate), DEFAULT_GATEWAY)
    url = url.strip().rstrip("/")
    return url if url.startswith(("http://", "https://")) else f"http://{url}"


class Gateway:
    """A client of the gateway's HTTP API; a context manager that closes its connections."""

    def __init__(
        self,
        url: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float | None = 30.0,
        credentials: tuple[str, str] | None = None,
        debug: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self._auth = httpx.BasicAuth(*credentials) if credentials is not None else None
        hooks = _debug_hooks(debug) if debug is not None else {}
        self._client = httpx.Client(
            base_url=url, transport=transport, timeout=httpx.Timeout(timeout, connect=5.0), event_hooks=hooks
        )

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._client.close()

    def request(self, method: str, path: str, *, accept: Container[int] = SUCCESS, **options: Any) -> httpx.Response:
        """Send one request and read the whole response.

        Args:
            method: the HTTP method.
            path: the path below the gateway URL.
            accept: the statuses returned to the caller; any other raises :class:`GatewayError`.
            **options: passed to :meth:`httpx.Client.request` (``json``, ``params``, ``content``, ...).

        Raises:
            GatewayUnreachable: the gateway did not answer.
            GatewayError: it answered with a status outside ``accept``.
        """
        with self._transport_errors():
            response = self._client.request(method, path, auth=self._auth_for(path), **options)
        if response.status_code not in accept:
            raise GatewayError(error_message(response), status=response.status_code)
        return response

    @contextmanager
    def stream(self, method: str, path: str, **options: Any) -> Iterator[httpx.Response]:
        """Send one request and yield the response unread, for streamed bodies (logs).

        Raises:
            GatewayUnreachable: the gateway did not answer, or stopped answering mid-stream.
            GatewayError: it answered with a status other than 2xx.
        """
        with (
            self._transport_errors(),
            self._client.stream(method, path, auth=self._auth_for(path), **options) as response,
        ):
            if response.status_code not in SUCCESS:
                response.read()
                raise GatewayError(error_message(response), status=response.status_code)
            yield response

    def _auth_for(self, path: str) -> httpx.BasicAuth | None:
        # As faas-cli: credentials go to the gateway's own API, never to a function, which would receive them.
        return None if path.startswith(("/function/", "/async-function/")) else self._auth

    @contextmanager
    def _transport_errors(self) -> Iterator[None]:
        try:
            yield
        except httpx.ConnectError:
            raise GatewayUnreachable(
                f"cannot connect to {self.url}: is faasq running? (start it with `make up` or `faasq up`)"
            ) from None
        except httpx.TimeoutException:
            raise GatewayUnreachable(f"{self.url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise GatewayUnreachable(f"error talking to {self.url}: {exc or type(exc).__name__}") from None


def error_message(response: httpx.Response) -> str:
    """``<status> <reason>: <the server's message>``, the message taken from FastAPI's ``detail`` if present."""
    text = response.text.strip()
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("detail"), str | list):
        text = str(document["detail"])
    status = f"{response.status_code} {response.reason_phrase}".strip()
    return f"{status}: {text}" if text else status


def _debug_hooks(show: Callable[[str], None]) -> dict[str, list[Callable[..., Any]]]:
    # faas-cli's FAAS_DEBUG=1: each request and the status it got, on stderr.
    def request(request: httpx.Request) -> None:
        show(f"> {request.method} {request.url}")

    def response(response: httpx.Response) -> None:
        show(f"< {response.status_code} {response.reason_phrase}")

    return {"request": [request], "response": [response]}


def decode(response: httpx.Response, shape: type[T]) -> T:
    """The response's JSON body as ``shape`` (a model, ``list[Model]``, ``dict[str, Any]``, ...).

    Raises:
        GatewayError: the body is not JSON of that shape (a proxy's HTML page, a different API).
    """
    try:
        return TypeAdapter(shape).validate_json(response.content)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        detail = f"{where}: {error['msg']}" if where else error["msg"]
        raise GatewayError(
            f"unexpected answer from {response.request.url}: {detail}", status=response.status_code
        ) from None
