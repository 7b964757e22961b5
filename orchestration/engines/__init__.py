"""Which engine runs a build: DuckDB in this process (the default) or Apache Spark.

| setting | CLI | env variable | default |
|---|---|---|---|
| engine | --engine | DUALWHEEL_ENGINE | duckdb |
| Spark master URL | --spark-master | DUALWHEEL_SPARK_MASTER | local[*] (Spark in this process) |
| lake folder (Spark tables + metastore) | --lake | DUALWHEEL_LAKE | `<warehouse stem>.lake` beside the warehouse file |

A relative lake path is taken from the current directory (it is a data location the person at
the terminal names), the default follows the warehouse file. Either way the published DuckDB
file BI reads is the same; only where raw/staging/marts are computed differs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENGINES = ("duckdb", "spark")
DEFAULT_ENGINE = "duckdb"


def default_lake_for(warehouse: Path) -> Path:
    """warehouse/dualwheel.duckdb -> warehouse/dualwheel.lake"""
    return Path(warehouse).with_name(Path(warehouse).stem + ".lake")


@dataclass(frozen=True)
class EngineSettings:
    engine: str
    spark_master: str | None
    lake: Path

    @property
    def is_spark(self) -> bool:
        return self.engine == "spark"

    @classmethod
    def from_env(cls, warehouse: Path, *, engine: str | None = None, spark_master: str | None = None,
                 lake: str | None = None) -> "EngineSettings":
        name = (engine or os.environ.get("DUALWHEEL_ENGINE") or DEFAULT_ENGINE).strip().lower()
        if name not in ENGINES:
            raise ValueError(f"unknown engine {name!r} (DUALWHEEL_ENGINE / --engine): expected one of {', '.join(ENGINES)}")
        master = spark_master or os.environ.get("DUALWHEEL_SPARK_MASTER") or None
        lake_value = lake or os.environ.get("DUALWHEEL_LAKE")
        lake_path = Path(lake_value).expanduser().absolute() if lake_value else default_lake_for(warehouse)
        return cls(engine=name, spark_master=master, lake=lake_path)

    def export_to_env(self) -> None:
        """Visible to everything this process starts (Dagster code servers, the daemon)."""
        os.environ["DUALWHEEL_ENGINE"] = self.engine
        os.environ["DUALWHEEL_LAKE"] = str(self.lake)
        if self.spark_master:
            os.environ["DUALWHEEL_SPARK_MASTER"] = self.spark_master
        else:
            os.environ.pop("DUALWHEEL_SPARK_MASTER", None)
