"""Numbers fixed by the BGP RFCs: message types, error codes and subcodes, attribute and capability codes.

Every code the project puts on or reads from the wire is named here once, so the rest of the code
says ``ErrorCode.CEASE`` instead of ``6``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum, IntFlag
from typing import Final

MARKER: Final = b"\xff" * 16  # RFC 4271 §4.1
HEADER_LEN: Final = 19  # RFC 4271 §4.1: marker(16) + length(2) + type(1)
MAX_MESSAGE_LEN: Final = 4096  # RFC 4271 §4.1
MAX_EXTENDED_MESSAGE_LEN: Final = 65535  # RFC 8654 §4
BGP_VERSION: Final = 4
AS_TRANS: Final = 23456  # RFC 6793 §9
BGP_PORT: Final = 179
GRACEFUL_SHUTDOWN: Final = 0xFFFF0000  # RFC 8326: the well-known community 65535:0 (IANA registry)


class MessageType(IntEnum):
    """RFC 4271 §4.1 (1-4), RFC 2918 §3 (5)."""

    OPEN = 1
    UPDATE = 2
    NOTIFICATION = 3
    KEEPALIVE = 4
    ROUTE_REFRESH = 5


class ErrorCode(IntEnum):
    """NOTIFICATION error codes, RFC 4271 §4.5; 7 from RFC 7313 §5."""

    MESSAGE_HEADER = 1
    OPEN_MESSAGE = 2
    UPDATE_MESSAGE = 3
    HOLD_TIMER_EXPIRED = 4
    FSM = 5
    CEASE = 6
    ROUTE_REFRESH = 7


class HeaderSub(IntEnum):
    """Message Header Error subcodes, RFC 4271 §6.1."""

    UNSPECIFIC = 0
    CONNECTION_NOT_SYNCHRONIZED = 1
    BAD_MESSAGE_LENGTH = 2
    BAD_MESSAGE_TYPE = 3


class OpenSub(IntEnum):
    """OPEN Message Error subcodes, RFC 4271 §6.2, RFC 5492 §5 (7), RFC 9234 (11)."""

    UNSPECIFIC = 0
    UNSUPPORTED_VERSION_NUMBER = 1
    BAD_PEER_AS = 2
    BAD_BGP_IDENTIFIER = 3
    UNSUPPORTED_OPTIONAL_PARAMETER = 4
    AUTHENTICATION_FAILURE = 5  # deprecated by RFC 4271
    UNACCEPTABLE_HOLD_TIME = 6
    UNSUPPORTED_CAPABILITY = 7
    ROLE_MISMATCH = 11


class UpdateSub(IntEnum):
    """UPDATE Message Error subcodes, RFC 4271 §6.3."""

    UNSPECIFIC = 0
    MALFORMED_ATTRIBUTE_LIST = 1
    UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE = 2
    MISSING_WELL_KNOWN_ATTRIBUTE = 3
    ATTRIBUTE_FLAGS_ERROR = 4
    ATTRIBUTE_LENGTH_ERROR = 5
    INVALID_ORIGIN_ATTRIBUTE = 6
    AS_ROUTING_LOOP = 7  # deprecated by RFC 4271
    INVALID_NEXT_HOP_ATTRIBUTE = 8
    OPTIONAL_ATTRIBUTE_ERROR = 9
    INVALID_NETWORK_FIELD = 10
    MALFORMED_AS_PATH = 11


class FsmSub(IntEnum):
    """Finite State Machine Error subcodes, RFC 6608 §4."""

    UNSPECIFIED = 0
    UNEXPECTED_MESSAGE_IN_OPENSENT = 1
    UNEXPECTED_MESSAGE_IN_OPENCONFIRM = 2
    UNEXPECTED_MESSAGE_IN_ESTABLISHED = 3


class CeaseSub(IntEnum):
    """Cease subcodes, RFC 4486 §4 (1-8), RFC 8538 §5 (9), RFC 9384 (10)."""

    UNSPECIFIC = 0
    MAXIMUM_PREFIXES_REACHED = 1
    ADMINISTRATIVE_SHUTDOWN = 2
    PEER_DECONFIGURED = 3
    ADMINISTRATIVE_RESET = 4
    CONNECTION_REJECTED = 5
    OTHER_CONFIGURATION_CHANGE = 6
    CONNECTION_COLLISION_RESOLUTION = 7
    OUT_OF_RESOURCES = 8
    HARD_RESET = 9
    BFD_DOWN = 10


class RouteRefreshSub(IntEnum):
    """ROUTE-REFRESH Message Error subcodes, RFC 7313 §5."""

    RESERVED = 0
    INVALID_MESSAGE_LENGTH = 1


class RouteRefreshSubtype(IntEnum):
    """The ROUTE-REFRESH 'Reserved' octet as redefined by RFC 7313 §3."""

    NORMAL = 0
    BEGIN = 1  # BoRR
    END = 2  # EoRR


class OptionalParameter(IntEnum):
    """OPEN optional parameter types: RFC 5492 §4 (2), RFC 9072 §2 (255 marks the extended form)."""

    CAPABILITIES = 2
    EXTENDED_LENGTH = 255


class CapabilityCode(IntEnum):
    """Capability codes from the IANA registry (RFC 5492 §4)."""

    MULTIPROTOCOL = 1  # RFC 4760
    ROUTE_REFRESH = 2  # RFC 2918
    EXTENDED_NEXT_HOP = 5  # RFC 8950
    EXTENDED_MESSAGE = 6  # RFC 8654
    GRACEFUL_RESTART = 64  # RFC 4724
    FOUR_OCTET_AS = 65  # RFC 6793
    ADD_PATH = 69  # RFC 7911
    ENHANCED_ROUTE_REFRESH = 70  # RFC 7313
    FQDN = 73  # draft-walton-bgp-hostname-capability


class AttrType(IntEnum):
    """Path attribute type codes (IANA registry)."""

    ORIGIN = 1
    AS_PATH = 2
    NEXT_HOP = 3
    MULTI_EXIT_DISC = 4
    LOCAL_PREF = 5
    ATOMIC_AGGREGATE = 6
    AGGREGATOR = 7
    COMMUNITIES = 8  # RFC 1997
    ORIGINATOR_ID = 9  # RFC 4456
    CLUSTER_LIST = 10  # RFC 4456
    MP_REACH_NLRI = 14  # RFC 4760
    MP_UNREACH_NLRI = 15  # RFC 4760
    EXTENDED_COMMUNITIES = 16  # RFC 4360
    AS4_PATH = 17  # RFC 6793
    AS4_AGGREGATOR = 18  # RFC 6793
    LARGE_COMMUNITY = 32  # RFC 8092


class AttrFlag(IntFlag):
    """Path attribute flag bits, RFC 4271 §4.3."""

    OPTIONAL = 0x80
    TRANSITIVE = 0x40
    PARTIAL = 0x20
    EXTENDED_LENGTH = 0x10


class Origin(IntEnum):
    """ORIGIN values, RFC 4271 §4.3 (a)."""

    IGP = 0
    EGP = 1
    INCOMPLETE = 2


class AsPathSegmentType(IntEnum):
    """AS_PATH segment types, RFC 4271 §4.3 (b) and RFC 5065 §3."""

    AS_SET = 1
    AS_SEQUENCE = 2
    AS_CONFED_SEQUENCE = 3
    AS_CONFED_SET = 4


class Afi(IntEnum):
    """Address Family Identifiers used by bgpd (IANA)."""

    IPV4 = 1
    IPV6 = 2


class Safi(IntEnum):
    """Subsequent Address Family Identifiers used by bgpd (IANA)."""

    UNICAST = 1
    MULTICAST = 2


class AddPathMode(IntEnum):
    """ADD-PATH Send/Receive field, RFC 7911 §4."""

    RECEIVE = 1
    SEND = 2
    BOTH = 3


class ErrorAction(Enum):
    """What the receiver of a malformed UPDATE does, RFC 7606 §2 (ordered from mildest to harshest)."""

    ATTRIBUTE_DISCARD = "attribute-discard"
    TREAT_AS_WITHDRAW = "treat-as-withdraw"
    SESSION_RESET = "session-reset"


@dataclass(frozen=True, slots=True, order=True)
class Family:
    """An (AFI, SAFI) pair; its text form is the one operators type, e.g. ``ipv4-unicast``."""

    afi: Afi
    safi: Safi

    def __str__(self) -> str:
        return f"{self.afi.name.lower()}-{self.safi.name.lower()}"

    @classmethod
    def parse(cls, text: str) -> Family:
        """Read ``ipv4-unicast`` style text; raises ValueError for anything else."""
        afi_text, sep, safi_text = text.strip().lower().partition("-")
        try:
            return cls(Afi[afi_text.upper()], Safi[safi_text.upper()]) if sep else _no_family(text)
        except KeyError:
            return _no_family(text)


def _no_family(text: str) -> Family:
    raise ValueError(f"unknown address family {text!r} (expected e.g. ipv4-unicast, ipv6-unicast)")


def known_family(afi: int, safi: int) -> Family | None:
    """The ``Family`` for wire codes bgpd supports, else None."""
    try:
        return Family(Afi(afi), Safi(safi))
    except ValueError:
        return None


IPV4_UNICAST: Final = Family(Afi.IPV4, Safi.UNICAST)
IPV6_UNICAST: Final = Family(Afi.IPV6, Safi.UNICAST)
