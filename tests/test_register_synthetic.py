"""The generator's staged resolution changes, which the register's end-to-end test relies on."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import pytest

from resources.synthetic_data import SyntheticParams, generate_range

BASE = SyntheticParams(seed=11, incidents_per_day=40, as_of=dt.datetime(2026, 3, 1),
                       events=False, dirty_share=0.0)
FIRST, LAST = dt.date(2026, 1, 1), dt.date(2026, 1, 21)
CHANGE = dt.date(2026, 1, 8)


def _incidents(params: SyntheticParams) -> pd.DataFrame:
    frames = [days["incidents"] for _, days in generate_range(params, FIRST, LAST)]
    frame = pd.concat(frames, ignore_index=True).set_index("number")
    frame["minutes"] = (pd.to_datetime(frame["resolved_at"]) - pd.to_datetime(frame["opened_at"])
                        ).dt.total_seconds() / 60
    return frame


def test_no_changes_leave_the_data_as_it_was() -> None:
    staged = dataclasses.replace(BASE, resolution_changes=(("ERP", dt.date(2030, 1, 1), 0.5),))
    pd.testing.assert_frame_equal(_incidents(BASE), _incidents(staged))


def test_a_change_alters_the_pace_of_one_service_from_its_day_on() -> None:
    before = _incidents(BASE)
    after = _incidents(dataclasses.replace(BASE, resolution_changes=(("ERP", CHANGE, 0.25),)))
    assert list(after.index) == list(before.index)
    opened = pd.to_datetime(before["opened_at"]).dt.date
    erp = before["business_service"] == "ERP"
    others = ~erp
    pd.testing.assert_series_equal(after.loc[others, "minutes"], before.loc[others, "minutes"])
    settled = erp & (pd.to_datetime(before["resolved_at"]).dt.date < CHANGE)
    pd.testing.assert_series_equal(after.loc[settled, "minutes"],
                                   before.loc[settled, "minutes"])
    later = erp & (opened > CHANGE) & before["minutes"].notna() & after["minutes"].notna()
    assert later.sum() > 20
    assert (after.loc[later, "minutes"] < before.loc[later, "minutes"]).all()
    assert after.loc[later, "minutes"].median() < 0.6 * before.loc[later, "minutes"].median()


def test_an_unknown_service_is_named() -> None:
    params = dataclasses.replace(BASE, resolution_changes=(("Mainframe", CHANGE, 2.0),))
    with pytest.raises(ValueError, match="unknown service 'Mainframe'"):
        _incidents(params)
