"""Every counter the session record keeps reaches the operator: the control socket's
``describe-session`` JSON and the ``bgpctl describe bgpsession`` text rendered from it."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from datetime import UTC, datetime

from bgpd.cli.tables import render_describe
from bgpd.daemon.handlers import describe_session_data
from bgpd.speaker.record import Counters
from bgpd.speaker.status import counter_key, counters_to_control
from bgpd.wire.constants import MessageType
from tests.daemon.test_handlers import snapshot, statuses

NAME = "10.0.1.254-node-01"


def _distinct_counters() -> tuple[Counters, dict[str, int]]:
    """A record whose every counter has its own value (a per-type counter: one UPDATE count)."""
    counters = Counters()
    values = {}
    for number, item in enumerate(dataclasses.fields(Counters), start=101):
        current = getattr(counters, item.name)
        if isinstance(current, Counter):
            current[MessageType.UPDATE] = number
        else:
            setattr(counters, item.name, number)
        values[item.name] = number
    return counters, values


def test_every_record_counter_is_in_the_status_json_and_in_describe() -> None:
    counters, values = _distinct_counters()
    base = snapshot()
    status = dataclasses.replace(statuses(base)[NAME], counters=counters_to_control(counters))
    data = describe_session_data(base, NAME, status)
    sent = json.loads(json.dumps(data))  # what crosses the socket
    text = render_describe(sent, datetime.now(UTC))
    assert len(values) >= 13
    for name, number in values.items():
        key = counter_key(name)
        assert sent["counters"][key] in (number, {"update": number}), name
        label = " ".join(word.capitalize() for word in name.split("_"))
        assert f"{label}:" in text, name
        assert f"  {number}" in text, name


def test_the_json_keys_stay_the_documented_ones() -> None:
    """Keys clients already read keep their names; new counters only add keys."""
    keys = set(counters_to_control(Counters()))
    assert {
        "messagesIn",
        "messagesOut",
        "prefixesIn",
        "withdrawnIn",
        "prefixesOut",
        "withdrawnOut",
        "updatesTreatedAsWithdraw",
        "flaps",
        "connectAttempts",
        "connectionsAccepted",
        "collisions",
    } <= keys
    assert {"updatesAttributeDiscard", "updatesIgnoredFamily"} <= keys
