"""orchestration/spark_session.get_spark: a real local Spark (Java 17 from the machine)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.spark_session import TIMEZONE, get_spark

pytestmark = pytest.mark.slow


def test_local_session_keeps_its_catalog_in_the_lake_and_counts_in_shanghai(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything Spark/Derby wrote to the current directory would show
    lake = tmp_path / "lake"
    spark = get_spark(lake)
    assert spark.conf.get("spark.sql.session.timeZone") == TIMEZONE
    # 1704040200 = 2023-12-31 16:30 UTC = 2024-01-01 00:30 in Shanghai: the Shanghai day counts.
    row = spark.sql("select cast(from_unixtime(1704040200) as date) as d, "
                    "cast(timestamp'2024-01-01 00:30:00' as string) as ntz, "
                    "typeof(timestamp'2024-01-01 00:30:00') as t").first()
    assert str(row.d) == "2024-01-01"
    assert (row.ntz, row.t) == ("2024-01-01 00:30:00", "timestamp_ntz")

    spark.sql("create database if not exists raw")
    spark.sql("create table raw.probe (gmv decimal(18,2), at timestamp) using parquet")
    spark.sql("insert into raw.probe values (12.34, timestamp'2024-01-01 00:30:00')")
    assert spark.sql("select sum(gmv) as s from raw.probe").first().s == __import__("decimal").Decimal("12.34")
    assert (lake / "metastore_db").is_dir() and list((lake / "tables" / "raw.db" / "probe").glob("*.parquet"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lake"]
    assert get_spark(lake) is spark  # dbt-spark's getOrCreate() sees this same session


def test_unreachable_master_fails_fast_with_one_line_naming_the_url(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"spark://127.0.0.1:{port}"
    code = ("import sys; from pathlib import Path; from orchestration.spark_session import get_spark, SparkUnavailable\n"
            f"try:\n    get_spark(Path({str(tmp_path / 'lake')!r}), {url!r})\n"
            "except SparkUnavailable as e:\n    print(e, file=sys.stderr); sys.exit(1)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"Spark master {url} is unreachable (no answer within 5 s)"]
