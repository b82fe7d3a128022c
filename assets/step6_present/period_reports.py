"""Weekly and monthly reports as partitioned assets, their optional e-mail, jobs and schedules.

One factory builds the same three things per cadence: ``present/<cadence>_report`` (the page,
extracts and chart of one ISO week or calendar month), ``present/<cadence>_report_mail`` (the
summary and the page sent to stakeholders, only when SMTP is configured) and a job with a
schedule that runs them after each period ends. They are partitioned by week or month, so they
live outside the daily jobs (which select ``DAILY_JOB_SELECTION``).
"""

from dataclasses import dataclass

import dagster as dg

from assets.common import OWNER, WAREHOUSE_POOL
from assets.step6_present.periods import PARTITIONS, Period, for_partition
from assets.step6_present.publish import metadata, publish
from assets.step6_present.report_data import title
from assets.step6_present.scorecard import kpi_cards, scorecard_frame
from assets.step6_present.summaries import summary_text
from resources.mailer import Attachment, Mailer
from resources.report_store import ReportStore
from resources.warehouse import Warehouse

GROUP = "step6_present"
SCHEDULE_HOUR = 6
"""Period reports run at 06:00 UTC after the period, when the 02:00 nightly run has loaded it."""


def _period(context: dg.AssetExecutionContext, cadence: str) -> Period:
    return for_partition(cadence, context.partition_key)


@dataclass(frozen=True)
class Cadence:
    """What one cadence adds to the Definitions."""

    report: dg.AssetsDefinition
    mail: dg.AssetsDefinition
    job: object  # what dg.define_asset_job returns (its class is not public)
    schedule: dg.ScheduleDefinition


def build(cadence: str, upstream: list[dg.AssetKey]) -> Cadence:
    """The report asset, the mail asset, the job and the schedule of one cadence."""
    partitions = PARTITIONS[cadence]
    noun = {"weekly": "ISO week (Monday to Sunday)", "monthly": "calendar month"}[cadence]

    @dg.asset(
        key=["present", f"{cadence}_report"], deps=upstream, partitions_def=partitions,
        group_name=GROUP, kinds={"html", "csv", "parquet"}, owners=[OWNER], pool=WAREHOUSE_POOL,
        description=f"The offline HTML report of one {noun}: the scorecard over the period "
        "against the previous one, a section per objective, anomalies, root causes, forecasts, "
        "recommendations and the register; with CSV and Parquet extracts and an SVG chart, "
        "named after the period, and the refreshed index.",
    )
    def report(context: dg.AssetExecutionContext, warehouse: Warehouse,
               report_store: ReportStore) -> dg.MaterializeResult:
        period = _period(context, cadence)
        with warehouse.connect(read_only=True) as con:
            frame = scorecard_frame(con, period)
            published = publish(con, report_store, period, frame)
        context.log.info(f"{period.label}: {published.report}")
        return dg.MaterializeResult(metadata=metadata(published))

    @dg.asset(
        key=["present", f"{cadence}_report_mail"], deps=[report.key],
        partitions_def=partitions, group_name=GROUP, kinds={"email"}, owners=[OWNER],
        pool=WAREHOUSE_POOL, output_required=False,
        description=f"E-mails the summary of the {cadence} report with the report attached to "
        "SEVENSTEP_MAIL_TO through SEVENSTEP_SMTP_HOST. Not materialized (nothing sent) while "
        "no SMTP host is configured.",
    )
    def mail(context: dg.AssetExecutionContext, warehouse: Warehouse,
             report_store: ReportStore, mailer: Mailer):
        settings = mailer.settings()
        if settings is None:
            context.log.info("e-mail is off (SEVENSTEP_SMTP_HOST is not set): nothing sent")
            return
        period = _period(context, cadence)
        page = report_store.path() / f"{period.stem}.html"
        if not page.is_file():
            raise FileNotFoundError(f"{page} does not exist: materialize "
                                    f"{report.key.to_user_string()} for {context.partition_key} "
                                    "first")
        with warehouse.connect(read_only=True) as con:
            cards = kpi_cards(con, scorecard_frame(con, period))
        subject = title(period)
        message_id = mailer.send(
            subject, summary_text(subject, cards, page.name),
            (Attachment(page.name, page.read_bytes()),),
        )
        context.log.info(f"sent {subject!r} to {len(settings.recipients)} recipient(s)")
        yield dg.MaterializeResult(metadata={
            "subject": subject,
            "recipients": len(settings.recipients),
            "smtp_host": settings.host,
            "message_id": message_id,
            "attachment": dg.MetadataValue.path(str(page)),
        })

    job = dg.define_asset_job(
        f"present_{cadence}_reports", selection=[report.key, mail.key],
        description=f"The {cadence} report (and its e-mail when SMTP is configured) of one "
        f"{noun}.",
    )
    schedule = dg.build_schedule_from_partitioned_job(
        job, hour_of_day=SCHEDULE_HOUR, name=f"present_{cadence}_reports_schedule")
    return Cadence(report, mail, job, schedule)
