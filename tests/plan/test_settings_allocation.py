"""The allocation and removal-guard settings: defaults, values, and wrong values named by field."""

from __future__ import annotations

import pytest

from bgpd.plan.settings import Settings, SettingsError, parse_settings


def test_defaults_are_a_day_of_reservation_and_a_quarter_removed() -> None:
    settings = Settings()
    assert settings.allocation.reservation_time == 86400
    assert settings.removals.max_share == 0.25


def test_values_are_read() -> None:
    settings = parse_settings({"allocation": {"reservationTime": 0}, "removals": {"maxShare": 1}})
    assert settings.allocation.reservation_time == 0 and settings.removals.max_share == 1.0


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"allocation": {"reservationTime": -1}}, "allocation.reservationTime"),
        ({"allocation": {"reservationTime": "1d"}}, "allocation.reservationTime"),
        ({"allocation": {"reservation": 5}}, "allocation.reservation"),
        ({"removals": {"maxShare": 1.5}}, "removals.maxShare"),
        ({"removals": {"maxShare": -0.1}}, "removals.maxShare"),
    ],
)
def test_wrong_values_name_their_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_settings(data)
    assert any(error.field == field for error in caught.value.errors), caught.value.errors
