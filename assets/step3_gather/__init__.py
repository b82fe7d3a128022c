"""Step 3 — gather the data: source-shaped raw tables, one per source and entity, by day.

Nothing is transformed here beyond landing the source's own columns (as text, exactly as
delivered) plus lineage columns. Each source in config/sources.yaml becomes one multi-asset
(synthetic.py for the generator, gather.py for files, SQL, ServiceNow and Prometheus); each
file-drop source also gets a sensor that starts a run when new files land
(pipelines/sensors.py).
"""

import dagster as dg

from assets.step3_gather.gather import build_source_gather
from assets.step3_gather.synthetic import build_synthetic_gather
from resources.settings import sources

GROUP = "step3_gather"


def _assets() -> list[dg.AssetsDefinition]:
    return [build_synthetic_gather(s) if s.kind == "synthetic" else build_source_gather(s)
            for s in sources().sources]


def _sensors() -> list[dg.SensorDefinition]:
    # Imported here: pipelines.sensors itself imports this package's modules.
    from pipelines.sensors import drop_folder_sensor

    return [drop_folder_sensor(s) for s in sources().sources if s.kind == "files"]


defs = dg.Definitions(assets=_assets(), sensors=_sensors())
