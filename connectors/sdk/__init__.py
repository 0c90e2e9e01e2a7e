"""The connector SDK: the topic map, the invoker with per-function acknowledgement, the connector base class."""

from connectors.sdk.config import ConnectorSettings
from connectors.sdk.connector import Connector, run_connector
from connectors.sdk.controller import Controller, open_controller
from connectors.sdk.deliveries import DeliveryLog, MemoryDeliveryLog
from connectors.sdk.events import Delivery, Event, EventResult, call_id_for
from connectors.sdk.invoker import ResponseHook
from connectors.sdk.topics import FunctionCatalog, Subscriber, topic_map, topics_of

__all__ = [
    "Connector",
    "ConnectorSettings",
    "Controller",
    "Delivery",
    "DeliveryLog",
    "Event",
    "EventResult",
    "FunctionCatalog",
    "MemoryDeliveryLog",
    "ResponseHook",
    "Subscriber",
    "call_id_for",
    "open_controller",
    "run_connector",
    "topic_map",
    "topics_of",
]
