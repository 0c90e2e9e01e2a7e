"""Bodies too large for one NATS message, kept in a JetStream object store bucket while their call lives.

The gateway stores such a body under the call's id and queues the call with the object's name
(``Faasq-Body-Object``) and no body; the worker reads it back for each run, and deletes it once
the call has finished. A dead-lettered call keeps its body, so a redrive runs it again; it goes
when the dead letter is purged. Whatever is left (a call cancelled before it ran, a body whose
publish failed) expires with the bucket's age limit.
"""

from __future__ import annotations

import contextlib
import io
from datetime import timedelta
from typing import BinaryIO

from nats.js import JetStreamContext
from nats.js.api import ObjectStoreConfig, StorageType
from nats.js.errors import APIError, BadRequestError, NotFoundError, ObjectNotFoundError
from nats.js.object_store import ObjectStore

from calls.streams import StreamConfigError

__all__ = ["DEFAULT_BODY_BUCKET", "Bodies", "BodyMissing"]

DEFAULT_BODY_BUCKET = "faasq-bodies"


class BodyMissing(LookupError):
    """A call's body is no longer in the bucket (deleted once its call finished, or expired)."""


class Bodies:
    """The body bucket of one connection.

    Args:
        store: the bucket (see :meth:`open`).
    """

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    @classmethod
    async def open(cls, js: JetStreamContext, bucket: str, max_age: timedelta, replicas: int = 1) -> Bodies:
        """Create the bucket (file storage, objects older than ``max_age`` expire) or bind to it.

        Raises:
            StreamConfigError: JetStream refuses the bucket (more replicas than the cluster has servers).
        """
        config = ObjectStoreConfig(
            bucket=bucket, ttl=max_age.total_seconds(), storage=StorageType.FILE, replicas=replicas
        )
        try:
            return cls(await js.create_object_store(bucket, config))
        except BadRequestError:  # it exists with another configuration
            return cls(await js.object_store(bucket))
        except APIError as exc:
            raise StreamConfigError(f"JetStream refuses object store {bucket!r}: {exc.description}") from None

    async def put(self, call_id: str, body: bytes | BinaryIO) -> None:
        """Store ``body`` as the call's (again, if it was stored before: the same call resent).

        A file is read from where it is to its end, chunk by chunk.
        """
        await self._store.put(call_id, body)  # type: ignore[arg-type]

    async def get(self, call_id: str) -> bytes:
        """The call's body.

        Raises:
            BodyMissing: there is none.
        """
        buffer = io.BytesIO()
        # Chunk by chunk into one buffer: nats-py would otherwise join each chunk to all the ones before.
        await self.get_into(call_id, buffer)
        return buffer.getvalue()

    async def get_into(self, call_id: str, file: BinaryIO) -> None:
        """Write the call's body into ``file``, chunk by chunk (its digest checked at the end).

        Raises:
            BodyMissing: there is none.
            nats.js.errors.DigestMismatchError: what was read is not what was stored.
        """
        try:
            await self._store.get(call_id, writeinto=file)  # type: ignore[arg-type]
        except (ObjectNotFoundError, NotFoundError):
            raise BodyMissing(f"the body of call {call_id} is no longer stored") from None

    async def delete(self, call_id: str) -> None:
        """Delete the call's body, if it is still there."""
        with contextlib.suppress(ObjectNotFoundError, NotFoundError):
            await self._store.delete(call_id)

    async def names(self) -> list[str]:
        """The calls whose bodies are stored."""
        try:
            return [info.name for info in await self._store.list(ignore_deletes=True) if info.name]
        except (ObjectNotFoundError, NotFoundError):  # nothing stored
            return []
