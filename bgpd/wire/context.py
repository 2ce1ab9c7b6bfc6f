"""Negotiated facts that change how messages are encoded or decoded.

The session builds one context for what it receives and one for what it sends (ADD-PATH can differ
per direction); codecs take it as an argument and never keep session state themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bgpd.wire.constants import MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN, Family


@dataclass(frozen=True, slots=True)
class CodecContext:
    """Encoding-relevant results of capability negotiation for one direction of one session."""

    four_octet_as: bool = True  # RFC 6793: AS_PATH carries 4-octet ASNs
    add_path: frozenset[Family] = field(default_factory=frozenset)  # RFC 7911: path identifiers present
    extended_message: bool = False  # RFC 8654: messages up to 65535 octets
    extended_next_hop: frozenset[Family] = field(default_factory=frozenset)  # RFC 8950: IPv6 NH for these

    @property
    def max_message_len(self) -> int:
        return MAX_EXTENDED_MESSAGE_LEN if self.extended_message else MAX_MESSAGE_LEN


DEFAULT_CONTEXT = CodecContext()
