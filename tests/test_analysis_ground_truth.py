"""Steps 1-5 on the synthetic source, scored against the events it injected.

One run of 120 days at 40 incidents per weekday holds every injected event after the 28-day
warm-up (the degradation starts 60 days before the extraction moment). A second run of 180
days without events measures the false alarms. Tolerances are those of
assets/step5_analyze/accuracy.py: spikes within a day, the failed change and the outage on their
day, the slowdown within its 6-week ramp plus 4 weeks (resolution times are counted when the
incident is resolved), the recurring cluster by an overlapping 30-day window.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os

import dagster as dg
import pytest

from assets.step5_analyze.accuracy import alarms, score
from resources.synthetic import SyntheticSource
from resources.synthetic_data import scenario
from tests.conftest import AS_OF, pipeline_resources

pytestmark = pytest.mark.e2e

GROUPS = ("step1_strategy", "step2_measures", "step3_gather", "step4_process", "step5_analyze")
MAX_QUIET_ALARMS = 6
"""At most this many alarms in 180 days without any injected event (all KPIs and services)."""


class _Quiet(SyntheticSource):
    """The synthetic source with the injected events switched off."""

    def params(self):
        return dataclasses.replace(super().params(), events=False)


def _findings(folder, days: int, source: SyntheticSource | None = None):
    from pipelines.definitions import defs
    from pipelines.runner import failure_summary, run_range

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    resources = pipeline_resources(folder)
    if source is not None:
        resources["synthetic"] = source
    graph = defs.resolve_asset_graph()
    selection = [k for k in graph.get_all_asset_keys() if graph.get(k).group_name in GROUPS]
    last = AS_OF.date() - dt.timedelta(days=1)
    result = run_range(last - dt.timedelta(days=days - 1), last, resources=resources,
                       selection=selection, dagster_instance=dg.DagsterInstance.ephemeral(),
                       log_level="ERROR")
    assert result.success, failure_summary(result)
    with resources["warehouse"].connect(read_only=True) as con:
        return con.execute("SELECT * FROM analysis.findings").df(), resources["synthetic"]


@pytest.fixture(scope="module")
def with_events(tmp_path_factory):
    return _findings(tmp_path_factory.mktemp("truth"), 120)


def test_every_injected_event_is_found_dated_and_attributed(with_events) -> None:
    findings, source = with_events
    truth = scenario(source.params())
    assert len(truth.events) == 5
    result = score(findings, truth)
    missed = [m.event.kind for m in result["matches"] if m.finding_id is None]
    assert missed == []
    by_kind = {m.event.kind: m for m in result["matches"]}
    assert by_kind["volume_spike"].days_off in (0, 1)
    assert by_kind["failed_change_burst"].days_off == 0
    assert by_kind["outage_burst"].days_off == 0
    # Every alarm but a few is explained by an injected event.
    assert result["precision"] >= 0.5, result["false"]


def test_findings_have_stable_unique_ids_and_evidence(with_events) -> None:
    findings, _ = with_events
    assert findings["finding_id"].is_unique
    assert findings["evidence"].str.startswith("{").all()
    assert set(findings["kind"]) >= {"change_impact", "problem_candidate", "major_outage",
                                     "pareto", "change_point"}


def test_a_quiet_half_year_raises_few_alarms(tmp_path_factory) -> None:
    quiet = _Quiet(as_of=AS_OF.isoformat(), incidents_per_day=40.0)
    findings, _ = _findings(tmp_path_factory.mktemp("quiet"), 180, quiet)
    raised = alarms(findings)
    assert len(raised) <= MAX_QUIET_ALARMS, raised[["kind", "scope", "day", "title"]]
