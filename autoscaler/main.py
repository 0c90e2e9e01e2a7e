"""``faasq-autoscaler``: scale every function by its labels and its load, until SIGTERM or SIGINT.

Configured by the environment (:class:`~autoscaler.config.AutoscalerSettings`): the gateway
to read and scale through, how often, and the windows of the rules. Run one per stack.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from autoscaler.config import AutoscalerSettings
from autoscaler.decision import Tuning
from autoscaler.loop import Autoscaler, SystemApi
from autoscaler.metrics import AutoscalerMetrics
from plumbing.credentials import CredentialsError, read_credentials
from plumbing.logs import configure_logging
from plumbing.metrics import flushing
from plumbing.settings import load_settings

__all__ = ["main", "run"]

logger = logging.getLogger(__name__)


async def run(settings: AutoscalerSettings, stop: asyncio.Event) -> None:
    """Scale until ``stop`` is set."""
    headers = {}
    if settings.basic_auth:
        headers["Authorization"] = read_credentials(settings.secret_mount_path).header()
    tuning = Tuning(
        stabilisation=settings.scale_down_window.total_seconds(),
        repeat=settings.alert_repeat.total_seconds(),
        zero_duration=settings.zero_duration,
    )
    api = SystemApi(
        settings.gateway_url,
        timeout=settings.request_timeout.total_seconds(),
        headers=headers,
        prometheus_url=settings.prometheus_url,
    )
    async with flushing(), api:
        autoscaler = Autoscaler(api, tuning, window=settings.rate_window.total_seconds(), metrics=AutoscalerMetrics())
        source = f"{settings.prometheus_url}/federate" if settings.prometheus_url else f"{settings.gateway_url}/metrics"
        every = settings.scale_interval.total_seconds()
        logger.info("scaling the functions of %s every %gs, load from %s", settings.gateway_url, every, source)
        await autoscaler.run(settings.scale_interval.total_seconds(), stop)
    logger.info("autoscaler stopped")


async def _serve(settings: AutoscalerSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await run(settings, stop)


def main() -> None:
    """Run the autoscaler; exit non-zero with one line when its settings or credentials are bad."""
    settings = load_settings(AutoscalerSettings, "faasq-autoscaler")
    configure_logging()
    try:
        asyncio.run(_serve(settings))
    except CredentialsError as exc:
        sys.exit(f"faasq-autoscaler: {exc}")


if __name__ == "__main__":
    main()
