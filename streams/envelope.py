"""The envelope a classified article travels in from the classify stage to the story stage.

Internal wire format (plain Python, no Kafka): a fixed head (magic, time,
lengths), the event types as JSON, the story signature, then the encoded
classified value without its closing brace, which the story stage completes.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

_MAGIC = b"NEs1"
_HEAD = struct.Struct("<4sdHI")  # magic, time (s), event-types length, signature length


@dataclass(frozen=True, slots=True)
class Envelope:
    """A classified article on its way to story grouping.

    ``at`` is the article's time (its raw record's timestamp, in seconds);
    ``event_types`` the types it carries (for its event topics and the
    counts); ``signature`` its story signature (empty when it has none);
    ``prefix`` the encoded classified value without its closing brace.
    """

    at: float
    event_types: tuple[str, ...]
    signature: bytes
    prefix: bytes

    def to_bytes(self) -> bytes:
        types = json.dumps(list(self.event_types)).encode()
        return _HEAD.pack(_MAGIC, self.at, len(types), len(self.signature)) + types + self.signature + self.prefix

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        """Raises ValueError for bytes that are not an envelope."""
        if len(data) < _HEAD.size:
            raise ValueError("too short for an envelope")
        magic, at, types_len, signature_len = _HEAD.unpack_from(data)
        if magic != _MAGIC:
            raise ValueError("not a story envelope")
        start = _HEAD.size
        types = json.loads(data[start : start + types_len])
        signature = data[start + types_len : start + types_len + signature_len]
        prefix = data[start + types_len + signature_len :]
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types) or not prefix.startswith(b"{"):
            raise ValueError("malformed story envelope")
        return cls(at, tuple(types), signature, prefix)
