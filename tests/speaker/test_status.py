"""Status values: NOTIFICATION texts, timestamps and the control-protocol rendering."""

from __future__ import annotations

import dataclasses

from bgpd.fsm import Reason, State
from bgpd.speaker.record import NotificationRecord, Transition
from bgpd.speaker.status import ReceivedRoute, SessionStatus, rfc3339
from bgpd.wire import Notification


def test_notification_record_carries_the_shutdown_communication() -> None:
    record = NotificationRecord.of(Notification.shutdown("draining node-3"), at=0.0)
    assert (record.code, record.subcode) == (6, 2)
    assert record.text == 'Cease / Administrative Shutdown: "draining node-3"'
    plain = NotificationRecord.of(Notification(4, 0), at=0.0)
    assert plain.text == "Hold Timer Expired"


def test_rfc3339_is_utc_with_milliseconds() -> None:
    assert rfc3339(86400 + 3661.5) == "1970-01-02T01:01:01.500Z"


def test_session_status_renders_the_control_protocol_fields() -> None:
    status = SessionStatus(
        name="10.0.1.254-node-01",
        local_ip="10.0.1.100",
        peer_ip="10.0.1.254",
        local_asn=65001,
        peer_asn=65002,
        fsm_state="Established",
        admin_down=False,
        uptime=812.7,
        prefixes_received=0,
        prefixes_sent=2,
        prefixes_pending=0,
        hold_time=90,
        keepalive_time=30,
        capabilities={"negotiated": ("four-octet-as",)},
        counters={"flaps": 0},
        last_error=None,
        last_sent=None,
        last_received=NotificationRecord.of(Notification(6, 4), at=0.0),
        history=(Transition(0.0, State.OPEN_CONFIRM, State.ESTABLISHED, Reason.OPEN_CONFIRMED),),
        last_report=0.0,
    )
    data = status.to_control()
    assert data["state"] == "Established" and data["fsmState"] == "Established"
    assert data["uptimeSeconds"] == 812 and data["prefixesSent"] == 2
    assert data["localIP"] == "10.0.1.100" and data["peerASN"] == 65002
    assert data["lastNotificationReceived"]["text"] == "Cease / Administrative Reset"
    assert data["history"] == [
        {
            "at": "1970-01-01T00:00:00.000Z",
            "from": "OpenConfirm",
            "to": "Established",
            "reason": "open-confirmed",
        }
    ]
    assert "lastNotificationSent" not in data and "adminDown" not in data
    down = dataclasses.replace(status, fsm_state="Active", uptime=None)
    assert down.to_control()["state"] == "NotEstablished" and down.to_control()["uptimeSeconds"] is None


def test_received_route_rendering() -> None:
    route = ReceivedRoute("s1", "ipv4-unicast", "192.0.2.0/24", "10.0.0.254", 7, (65002,))
    assert route.to_control() == {
        "session": "s1",
        "prefix": "192.0.2.0/24",
        "nextHop": "10.0.0.254",
        "metric": 7,
        "family": "ipv4-unicast",
        "asPath": [65002],
    }
