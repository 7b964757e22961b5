"""The one place a SparkSession is made, so ingestion, dbt-spark (`method: session`) and publishing
all see the same catalog.

Everything Spark keeps lives inside the lake folder (setting `DUALWHEEL_LAKE`):

| what | where |
|---|---|
| Hive metastore (embedded Derby) | `<lake>/metastore_db` |
| Parquet tables (`raw`, `audit`, `staging`, `intermediate`, `marts`) | `<lake>/tables/<db>.db/<table>` |
| Derby's log | `<lake>/derby.log` |

Embedded Derby admits ONE JVM at a time: two processes that open the same lake collide on the
metastore lock. A process opens one lake; `get_spark` on another lake stops the running session
first.

Timestamps: raw tables on DuckDB hold naive Asia/Shanghai wall-clock `TIMESTAMP`s, so on Spark
they are `TIMESTAMP_NTZ` holding the same wall-clock values (Parquet `isAdjustedToUTC=false`, which
DuckDB reads back as plain `TIMESTAMP`). The session sets `spark.sql.timestampType=TIMESTAMP_NTZ`
so that `cast(x as timestamp)` and timestamp literals in the dbt models are NTZ too, and the
session time zone to Asia/Shanghai for anything zone-aware (`current_timestamp()`, Python
datetimes collected from zoned values).
"""

from __future__ import annotations

import os
import socket
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import urlparse

DEFAULT_MASTER = "local[*]"
TIMEZONE = "Asia/Shanghai"
#: Spark's default is 200 shuffle partitions: every join or aggregate of a small build would run
#: 200 tasks of a few rows each, one or two at a time on 2 cores (dbt's ~150 queries on 3,000
#: orders are mostly such shuffles). Four = 2 tasks per core; adaptive execution coalesces
#: further where it can. Raise it (spark.sql.shuffle.partitions) on a real cluster.
SHUFFLE_PARTITIONS = 4
#: How long to wait for a standalone master's port and then for its first executor. A cluster
#: that is up answers the port in milliseconds and registers executors in a few seconds.
CONNECT_TIMEOUT_S = 5.0
EXECUTOR_TIMEOUT_S = 60.0


#: Spark's default log4j profile prints INFO start-up chatter and WARNs (native hadoop, Hive
#: metastore versions) to stderr; ours keeps ERROR only, so a failed command ends with our error.
_LOG4J2 = Path(__file__).with_name("spark_log4j2.properties")


class SparkUnavailable(RuntimeError):
    """The Spark master cannot be used; the message is one line naming the URL."""


def _check_master_reachable(master: str) -> None:
    """A standalone master that is down makes Spark retry for minutes; a TCP probe fails in seconds."""
    if not master.startswith("spark://"):
        return
    for hostport in master[len("spark://"):].split(","):  # HA masters: spark://h1:p1,h2:p2
        parsed = urlparse(f"spark://{hostport}")
        try:
            with socket.create_connection((parsed.hostname, parsed.port or 7077), timeout=CONNECT_TIMEOUT_S):
                return
        except OSError:
            continue
    raise SparkUnavailable(f"Spark master {master} is unreachable (no answer within {CONNECT_TIMEOUT_S:.0f} s)")


def _wait_for_executors(spark, master: str) -> None:
    """A reachable master without free workers accepts the app and then runs no task, ever."""
    if not master.startswith("spark://"):
        return
    tracker = spark.sparkContext._jsc.sc().statusTracker()
    deadline = time.monotonic() + EXECUTOR_TIMEOUT_S
    while time.monotonic() < deadline:
        if len(tracker.getExecutorInfos()) > 1:  # the driver is listed too
            return
        time.sleep(0.25)
    spark.stop()
    raise SparkUnavailable(f"Spark master {master} granted no executor within {EXECUTOR_TIMEOUT_S:.0f} s "
                           "(no worker with free cores?)")


def _running_session():
    """The session of this process's running SparkContext (what getOrCreate() would return)."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    if SparkContext._active_spark_context is None:
        return None
    return SparkSession.active()


def get_spark(lake: Path, master: str | None = None, app_name: str = "dualwheel"):
    """A Hive-enabled SparkSession whose catalog and tables live in `lake`.

    Returns the running session when it already serves this lake and master (dbt-spark's session
    method calls `SparkSession.builder.getOrCreate()` and so picks up the same one)."""
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                            category=FutureWarning)  # pandas 3.1 works for what we use (tests)
    from pyspark.sql import SparkSession

    lake = Path(lake).resolve()
    master = master or DEFAULT_MASTER
    tables = lake / "tables"
    metastore = lake / "metastore_db"

    running = _running_session()
    if running is not None:
        conf = running.sparkContext.getConf()
        if conf.get("spark.dualwheel.lake", None) == str(lake) and conf.get("spark.master") == master:
            return running
        running.stop()

    _check_master_reachable(master)
    lake.mkdir(parents=True, exist_ok=True)
    # Executors start Python workers with this interpreter, so they import the project's packages
    # (ingestion) and the locked pandas/pyarrow rather than whatever `python3` is on PATH.
    # On YARN/Kubernetes the executors unpack the venv from spark.archives instead:
    # DUALWHEEL_EXECUTOR_PYTHON=./environment/bin/python (README "Running on Spark").
    os.environ["PYSPARK_PYTHON"] = os.environ.get("DUALWHEEL_EXECUTOR_PYTHON") or sys.executable
    if master.startswith("local"):
        # a local run binds to loopback: no "hostname resolves to a loopback address" warning
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .enableHiveSupport()
        .config("spark.dualwheel.lake", str(lake))  # lets get_spark recognise its own session
        .config("spark.sql.warehouse.dir", tables.as_uri())
        .config("spark.hadoop.javax.jdo.option.ConnectionURL",
                f"jdbc:derby:;databaseName={metastore};create=true")
        # derby.log otherwise lands in the current directory
        .config("spark.driver.extraJavaOptions",
                f"-Dderby.stream.error.file={lake / 'derby.log'} -Dlog4j2.configurationFile={_LOG4J2.as_uri()}")
        .config("spark.sql.session.timeZone", TIMEZONE)
        .config("spark.sql.shuffle.partitions", str(SHUFFLE_PARTITIONS))
        .config("spark.default.parallelism", str(SHUFFLE_PARTITIONS))
        # parallel test runs and a second session on the machine would otherwise fight over 4040
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # Parquet tables, no Hive SerDe: plain `create table ... using parquet` everywhere
        .config("spark.sql.sources.default", "parquet")
        .config("spark.sql.legacy.createHiveTableByDefault", "false")
        .config("spark.sql.timestampType", "TIMESTAMP_NTZ")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    _wait_for_executors(spark, master)
    return spark
