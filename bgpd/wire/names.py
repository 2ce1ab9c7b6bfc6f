"""Human names for NOTIFICATION codes and subcodes, as the IANA "BGP Error (Sub)Codes" registries
spell them (RFC 4271 §4.5, RFC 4486, RFC 6608, RFC 7313, RFC 8538, RFC 9234, RFC 9384)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from bgpd.wire.constants import (
    CeaseSub,
    ErrorCode,
    FsmSub,
    HeaderSub,
    OpenSub,
    RouteRefreshSub,
    UpdateSub,
)

ERROR_CODE_NAMES: Final[Mapping[int, str]] = {
    ErrorCode.MESSAGE_HEADER: "Message Header Error",
    ErrorCode.OPEN_MESSAGE: "OPEN Message Error",
    ErrorCode.UPDATE_MESSAGE: "UPDATE Message Error",
    ErrorCode.HOLD_TIMER_EXPIRED: "Hold Timer Expired",
    ErrorCode.FSM: "Finite State Machine Error",
    ErrorCode.CEASE: "Cease",
    ErrorCode.ROUTE_REFRESH: "ROUTE-REFRESH Message Error",
}

ERROR_SUBCODE_NAMES: Final[Mapping[int, Mapping[int, str]]] = {
    ErrorCode.MESSAGE_HEADER: {
        HeaderSub.CONNECTION_NOT_SYNCHRONIZED: "Connection Not Synchronized",
        HeaderSub.BAD_MESSAGE_LENGTH: "Bad Message Length",
        HeaderSub.BAD_MESSAGE_TYPE: "Bad Message Type",
    },
    ErrorCode.OPEN_MESSAGE: {
        OpenSub.UNSUPPORTED_VERSION_NUMBER: "Unsupported Version Number",
        OpenSub.BAD_PEER_AS: "Bad Peer AS",
        OpenSub.BAD_BGP_IDENTIFIER: "Bad BGP Identifier",
        OpenSub.UNSUPPORTED_OPTIONAL_PARAMETER: "Unsupported Optional Parameter",
        OpenSub.AUTHENTICATION_FAILURE: "Authentication Failure (deprecated)",
        OpenSub.UNACCEPTABLE_HOLD_TIME: "Unacceptable Hold Time",
        OpenSub.UNSUPPORTED_CAPABILITY: "Unsupported Capability",
        OpenSub.ROLE_MISMATCH: "Role Mismatch",
    },
    ErrorCode.UPDATE_MESSAGE: {
        UpdateSub.MALFORMED_ATTRIBUTE_LIST: "Malformed Attribute List",
        UpdateSub.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: "Unrecognized Well-known Attribute",
        UpdateSub.MISSING_WELL_KNOWN_ATTRIBUTE: "Missing Well-known Attribute",
        UpdateSub.ATTRIBUTE_FLAGS_ERROR: "Attribute Flags Error",
        UpdateSub.ATTRIBUTE_LENGTH_ERROR: "Attribute Length Error",
        UpdateSub.INVALID_ORIGIN_ATTRIBUTE: "Invalid ORIGIN Attribute",
        UpdateSub.AS_ROUTING_LOOP: "AS Routing Loop (deprecated)",
        UpdateSub.INVALID_NEXT_HOP_ATTRIBUTE: "Invalid NEXT_HOP Attribute",
        UpdateSub.OPTIONAL_ATTRIBUTE_ERROR: "Optional Attribute Error",
        UpdateSub.INVALID_NETWORK_FIELD: "Invalid Network Field",
        UpdateSub.MALFORMED_AS_PATH: "Malformed AS_PATH",
    },
    ErrorCode.FSM: {
        FsmSub.UNSPECIFIED: "Unspecified Error",
        FsmSub.UNEXPECTED_MESSAGE_IN_OPENSENT: "Receive Unexpected Message in OpenSent State",
        FsmSub.UNEXPECTED_MESSAGE_IN_OPENCONFIRM: "Receive Unexpected Message in OpenConfirm State",
        FsmSub.UNEXPECTED_MESSAGE_IN_ESTABLISHED: "Receive Unexpected Message in Established State",
    },
    ErrorCode.CEASE: {
        CeaseSub.MAXIMUM_PREFIXES_REACHED: "Maximum Number of Prefixes Reached",
        CeaseSub.ADMINISTRATIVE_SHUTDOWN: "Administrative Shutdown",
        CeaseSub.PEER_DECONFIGURED: "Peer De-configured",
        CeaseSub.ADMINISTRATIVE_RESET: "Administrative Reset",
        CeaseSub.CONNECTION_REJECTED: "Connection Rejected",
        CeaseSub.OTHER_CONFIGURATION_CHANGE: "Other Configuration Change",
        CeaseSub.CONNECTION_COLLISION_RESOLUTION: "Connection Collision Resolution",
        CeaseSub.OUT_OF_RESOURCES: "Out of Resources",
        CeaseSub.HARD_RESET: "Hard Reset",
        CeaseSub.BFD_DOWN: "BFD Down",
    },
    ErrorCode.ROUTE_REFRESH: {
        RouteRefreshSub.RESERVED: "Reserved",
        RouteRefreshSub.INVALID_MESSAGE_LENGTH: "Invalid Message Length",
    },
}


def error_code_name(code: int) -> str:
    return ERROR_CODE_NAMES.get(code, f"Unknown Error Code {code}")


def error_subcode_name(code: int, subcode: int) -> str:
    """Subcode 0 is "Unspecific" for every code that does not name it (RFC 4271 §4.5)."""
    names = ERROR_SUBCODE_NAMES.get(code, {})
    if subcode in names:
        return names[subcode]
    return "Unspecific" if subcode == 0 else f"Unknown Subcode {subcode}"


def error_name(code: int, subcode: int) -> str:
    """``"Cease / Administrative Shutdown"``; a code without subcodes (Hold Timer Expired, subcode 0)
    is named alone."""
    if code in ERROR_CODE_NAMES and code not in ERROR_SUBCODE_NAMES and subcode == 0:
        return ERROR_CODE_NAMES[code]
    return f"{error_code_name(code)} / {error_subcode_name(code, subcode)}"
