"""One turn of the improvement loop over the register: evaluate, propose, monitor.

The order matters. Done actions whose evaluation window is complete are judged first, so an
action found ineffective frees its KPI and scope and the same run can propose a new one. Then
new findings become proposals, and last every active action gets its current value and flags.
All of it is the pipeline's own writing: fields a person set are never touched (the repository
enforces that), and every change lands in the event history.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from assets.step7_implement.evaluation import evaluate, windows
from assets.step7_implement.findings import Candidate, Scope, rollup
from resources.register import PIPELINE, Edit, Register
from resources.register.models import ACTIVE_STATUSES, OPEN_STATUSES, Action
from resources.register.repository import now_utc
from resources.register.settings import RegisterConfig


@dataclass(frozen=True)
class Inputs:
    """Everything a turn needs from the warehouse, read before the register is opened."""

    last_day: dt.date
    window_days: int  # the scorecard window: current and baseline values roll up over it
    catalogue: pd.DataFrame  # by kpi_id: name, unit, direction, rollup, target
    candidates: list[Candidate]
    wrong_way: set[Scope]
    series: dict[Scope, pd.DataFrame]
    objective_of: dict[tuple[str, str], str]  # (kpi_id, service or "all") -> objective id
    priority_of: dict[str, str]  # service -> priority of actions on it


@dataclass
class Outcome:
    """What the turn did, for the asset's metadata and log."""

    proposed: list[str] = field(default_factory=list)
    evaluated: Counter = field(default_factory=Counter)
    refreshed: int = 0


def scope_of(action: Action) -> Scope:
    return (action.kpi_id, action.scope_breakdown, action.scope_value)


def needed_since(register_actions: list[Action], inputs_last_day: dt.date, window_days: int,
                 cfg: RegisterConfig) -> dt.date:
    """The first day of KPI facts a turn needs: the current window, and the evaluation
    windows of done actions (before their done date)."""
    first = inputs_last_day - dt.timedelta(days=window_days - 1)
    for action in register_actions:
        if action.status == "done" and action.done_on is not None:
            first = min(first, windows(action.done_on, cfg.evaluation.window_days)[0][0])
    return first


def run_turn(register: Register, inputs: Inputs, cfg: RegisterConfig) -> Outcome:
    outcome = Outcome()
    _evaluate(register, inputs, cfg, outcome)
    _propose(register, inputs, cfg, outcome)
    _monitor(register, inputs, outcome)
    return outcome


def _evaluate(register: Register, inputs: Inputs, cfg: RegisterConfig, outcome: Outcome) -> None:
    settings = cfg.evaluation
    edits = []
    for action in register.actions(["done"]):
        if action.done_on is None:
            continue
        before, after = windows(action.done_on, settings.window_days, settings.settle_days)
        if inputs.last_day < after[1]:
            continue  # the evaluation window is not complete yet
        daily = inputs.series.get(scope_of(action))
        info = inputs.catalogue.loc[action.kpi_id]

        def values(span: tuple[dt.date, dt.date], daily: pd.DataFrame | None = daily
                   ) -> np.ndarray:
            if daily is None:
                return np.array([])
            return daily.loc[(daily.index >= span[0]) & (daily.index <= span[1]),
                             "value"].to_numpy(dtype=float)

        effect = evaluate(values(before), values(after), str(info["direction"]),
                          alpha=settings.alpha, min_relative_change=settings.min_relative_change,
                          min_days=settings.min_days, unit=str(info["unit"]))
        status = "verified" if effect.verified else "ineffective"
        edits.append(Edit(action.action_id, {
            "status": status, "effect": _finite(effect.relative_change),
            "effect_p_value": _finite(effect.p_value),
            "effect_summary": f"{effect.summary}; before {before[0]} .. {before[1]}, after "
                              f"{after[0]} .. {after[1]}"}))
        outcome.evaluated[status] += 1
    register.apply(edits, PIPELINE)


def _finite(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _propose(register: Register, inputs: Inputs, cfg: RegisterConfig, outcome: Outcome) -> None:
    actions = register.actions()
    taken = {a.action_id for a in actions}
    active = {scope_of(a): a for a in actions if a.status in ACTIVE_STATUSES}
    snooze = dt.timedelta(days=cfg.proposals.snooze_days_after_reject)
    now = now_utc()
    rejected = {scope_of(a) for a in actions if a.status == "rejected" and now - a.updated_at
                < snooze}
    failed: dict[Scope, list[str]] = {}
    for a in actions:
        if a.status == "ineffective":
            failed.setdefault(scope_of(a), []).append(a.action_id)
    refresh = []
    for candidate in inputs.candidates:
        existing = active.get(candidate.scope)
        if existing is not None:
            if existing.status in OPEN_STATUSES:
                refresh.append(_refresh(existing, candidate, inputs.last_day))
            continue
        if candidate.scope in rejected or candidate.kpi_id not in inputs.catalogue.index:
            continue
        values = _proposal(candidate, inputs, failed.get(candidate.scope, []))
        values["action_id"] = _new_id(candidate, inputs.last_day, taken)
        taken.add(values["action_id"])
        active[candidate.scope] = register.create(values)
        outcome.proposed.append(values["action_id"])
    outcome.refreshed += register.apply(refresh, PIPELINE)


def _new_id(candidate: Candidate, day: dt.date, taken: set[str]) -> str:
    """ACT-<last day>-<hash of KPI and scope>, with a suffix should that exist already."""
    digest = hashlib.sha1("|".join(candidate.scope).encode()).hexdigest()[:6].upper()
    base = f"ACT-{day:%Y%m%d}-{digest}"
    suffix = 2
    action_id = base
    while action_id in taken:
        action_id, suffix = f"{base}-{suffix}", suffix + 1
    return action_id


def _proposal(candidate: Candidate, inputs: Inputs, failed: list[str]) -> dict[str, object]:
    info = inputs.catalogue.loc[candidate.kpi_id]
    service = candidate.value if candidate.breakdown != "all" else "all"
    scope = "all services" if candidate.breakdown == "all" else candidate.value
    first = inputs.last_day - dt.timedelta(days=inputs.window_days - 1)
    verb = "Reduce" if info["direction"] == "lower_is_better" else "Raise"
    history = (f" Earlier action(s) on the same KPI and scope did not work: "
               f"{', '.join(failed)}." if failed else "")
    target = info["target"]
    return {
        "title": f"{verb} {info['name'].lower()} for {scope}",
        "description": f"{info['name']} ({info['unit']}) for {scope} is {candidate.reason}. "
                       "Find the causes, agree an action and its owner, and track the KPI "
                       f"until it recovers.{history}",
        "kpi_id": candidate.kpi_id,
        "finding_ids": ",".join(candidate.finding_ids) or None,
        "evidence": _evidence(candidate, inputs.last_day),
        "objective_id": inputs.objective_of.get((candidate.kpi_id, service)),
        "scope_breakdown": candidate.breakdown,
        "scope_value": candidate.value,
        "scope": scope,
        "priority": "high" if service == "all" else inputs.priority_of.get(service, "medium"),
        "baseline_value": rollup(inputs.series.get(candidate.scope), str(info["rollup"]), first,
                                 inputs.last_day),
        "baseline_period": f"{first} .. {inputs.last_day}",
        "target": None if pd.isna(target) else float(target),
        "rationale": candidate.reason[0].upper() + candidate.reason[1:] + "." + history,
    }


def _refresh(action: Action, candidate: Candidate, day: dt.date) -> Edit:
    """An open action's evidence follows the latest analysis (its finding ids stay those it
    was proposed for, so they keep pointing at what made somebody act)."""
    return Edit(action.action_id, {"evidence": _evidence(candidate, day)})


def _evidence(candidate: Candidate, day: dt.date) -> str:
    return f"as of {day}: " + "; ".join(candidate.evidence or (candidate.reason,))


def _monitor(register: Register, inputs: Inputs, outcome: Outcome) -> None:
    first = inputs.last_day - dt.timedelta(days=inputs.window_days - 1)
    now = now_utc()
    edits = []
    for action in register.actions(ACTIVE_STATUSES):
        kind = str(inputs.catalogue.loc[action.kpi_id, "rollup"]) \
            if action.kpi_id in inputs.catalogue.index else "ratio"
        edits.append(Edit(action.action_id, {
            "current_value": rollup(inputs.series.get(scope_of(action)), kind, first,
                                    inputs.last_day),
            "overdue": bool(action.status in OPEN_STATUSES and action.due_date is not None
                            and action.due_date < inputs.last_day),
            "wrong_way": scope_of(action) in inputs.wrong_way,
            "last_evaluated": now,
        }))
    outcome.refreshed += register.apply(edits, PIPELINE)
