"""Settings of the cron connector: the shared connector settings and how schedules are run."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from connectors.cron.schedule import ScheduleError, zone_of
from connectors.sdk.config import ConnectorSettings
from provider.types import GoDuration

__all__ = ["CronSettings"]


class CronSettings(ConnectorSettings):
    """The cron connector's environment."""

    content_type: str | None = Field("text/plain", description="Content-Type of each run's request.")
    default_timezone: str = Field(
        "UTC", description="IANA time zone of schedules whose function has no com.faasq.cron.timezone annotation."
    )
    catch_up: bool = Field(
        True, description="Runs missed while the connector was stopped or behind merge into one run (false: dropped)."
    )
    catch_up_window: GoDuration = Field(
        timedelta(0), description="On start, runs scheduled this long before count as missed (one catch-up at most)."
    )
    shutdown_grace: GoDuration = Field(
        timedelta(seconds=10), description="On SIGTERM, how long running calls may finish before they are abandoned."
    )

    @field_validator("default_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zone_of(value)
        except ScheduleError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("catch_up_window", "shutdown_grace")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must not be negative")
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The default time zone."""
        return zone_of(self.default_timezone)
