"""The celery app a sevenstep worker runs when SEVENSTEP_EXECUTOR=celery spreads steps over
workers:

    celery -A pipelines.celery_worker worker -Q dagster --prefetch-multiplier=1

(-Q names the queue in SEVENSTEP_CELERY_QUEUE when that is set). It is dagster-celery's own
app and task, pointed at the broker and result backend in SEVENSTEP_CELERY_BROKER and
SEVENSTEP_CELERY_BACKEND, the same variables the executor reads (pipelines/executors.py):
`dagster-celery worker start` would instead write the broker URL, password included, into a
file under $DAGSTER_HOME. A worker needs the project installed and the same $DAGSTER_HOME (or
PostgreSQL instance), configuration and warehouse path as the process that starts the run.
"""

from __future__ import annotations

import os

from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from pipelines.executors import ENV_BACKEND, ENV_BROKER

app = make_app(CeleryExecutor.for_cli(broker=os.environ.get(ENV_BROKER) or None,
                                      backend=os.environ.get(ENV_BACKEND) or None).app_args())
execute_plan = create_task(app)
