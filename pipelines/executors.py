"""Which executor runs the steps of a run: one process by default, celery workers on request.

The choice is made by whoever deploys sevenstep, not by the code, so it comes from the
environment (SEVENSTEP_EXECUTOR) when the code location loads. Whatever the executor, every
step that opens the warehouse stays in the `duckdb_warehouse` concurrency pool, so spreading
steps over processes or machines never puts two writers on the DuckDB file at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

ENV_EXECUTOR = "SEVENSTEP_EXECUTOR"
ENV_BROKER = "SEVENSTEP_CELERY_BROKER"
ENV_BACKEND = "SEVENSTEP_CELERY_BACKEND"
ENV_QUEUE = "SEVENSTEP_CELERY_QUEUE"
CHOICES = ("in_process", "multiprocess", "celery")


class ExecutorChoiceError(ValueError):
    """SEVENSTEP_EXECUTOR names no executor sevenstep knows (or its library is missing)."""


def celery_config(environ: Mapping[str, str]) -> dict[str, object]:
    """The celery executor's config: broker and result backend are read from the environment
    when a run starts ({"env": ...}), so a password in the broker URL is never in the
    definitions or the UI. Unset, dagster-celery's defaults apply (RabbitMQ on
    $DAGSTER_CELERY_BROKER_HOST, else localhost, and the rpc:// backend). SEVENSTEP_CELERY_QUEUE
    names the queue steps are sent to (default `dagster`), so two deployments can share one
    broker without their workers taking each other's steps."""
    config: dict[str, object] = {}
    if environ.get(ENV_BROKER):
        config["broker"] = {"env": ENV_BROKER}
    if environ.get(ENV_BACKEND):
        config["backend"] = {"env": ENV_BACKEND}
    if environ.get(ENV_QUEUE):
        config["config_source"] = {"task_default_queue": environ[ENV_QUEUE].strip()}
    return config


def executor_from_env(environ: Mapping[str, str] | None = None) -> dg.ExecutorDefinition:
    """The executor SEVENSTEP_EXECUTOR names; in_process when it is unset or empty."""
    environ = os.environ if environ is None else environ
    choice = (environ.get(ENV_EXECUTOR) or "in_process").strip().lower()
    if choice == "in_process":
        return dg.in_process_executor
    if choice == "multiprocess":
        return dg.multiprocess_executor
    if choice == "celery":
        try:
            from dagster_celery import celery_executor
        except ImportError as exc:
            raise ExecutorChoiceError(f"{ENV_EXECUTOR}=celery needs the dagster-celery "
                                      f"package: {exc}") from exc
        config = celery_config(environ)
        return celery_executor.configured(config) if config else celery_executor
    raise ExecutorChoiceError(f"{ENV_EXECUTOR}={choice!r} is not an executor sevenstep knows; "
                              f"use one of {', '.join(CHOICES)}")
