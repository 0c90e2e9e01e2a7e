"""Finding a connector by name: the built-ins, then the entry-point group ``faasq.connectors``.

Built-ins are imported only when asked for, so a connector with an extra dependency costs
nothing to the others; a third-party package declares its own entry point (docs/connectors.md).
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points
from typing import Any

from connectors.sdk.connector import Connector

__all__ = ["BUILT_IN", "GROUP", "ConnectorNotFound", "available", "load"]

GROUP = "faasq.connectors"

BUILT_IN = {
    "cron": "connectors.cron.connector:CronConnector",
    "redis": "connectors.redis.connector:RedisConnector",
    "webhook": "connectors.webhook.connector:WebhookConnector",
}
"""Name → ``module:class`` of the connectors that ship with faasq."""


class ConnectorNotFound(Exception):
    """No connector has that name, or it cannot be imported; the message says what to do."""


def available() -> dict[str, str]:
    """Every connector name → ``module:attribute``, sorted; a built-in wins over an entry point of the same name."""
    found = {entry.name: entry.value for entry in entry_points(group=GROUP)}
    return dict(sorted((found | BUILT_IN).items()))


def load(name: str) -> type[Connector[Any]]:
    """The connector class called ``name``.

    Raises:
        ConnectorNotFound: unknown (with a "did you mean"), not importable (naming the missing module),
            or not a :class:`~connectors.sdk.connector.Connector` subclass.
    """
    known = available()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConnectorNotFound(f"unknown connector {name!r} (available: {', '.join(known)}){hint}")
    module_name, _, attribute = known[name].partition(":")
    try:
        target: object = getattr(importlib.import_module(module_name), attribute)
    except ModuleNotFoundError as exc:
        extra = f": install it, e.g. pip install 'faasq[{name}]'" if name in BUILT_IN else ""
        missing = f"the {name} connector needs the module {exc.name!r}, which is missing"
        raise ConnectorNotFound(missing + extra) from None
    except AttributeError:
        raise ConnectorNotFound(f"the {name} connector names {known[name]!r}, which does not exist") from None
    if not (isinstance(target, type) and issubclass(target, Connector)):
        raise ConnectorNotFound(f"the {name} connector {known[name]!r} is not a connectors.sdk.Connector subclass")
    return target
