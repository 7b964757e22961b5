"""A real standalone Spark cluster on 127.0.0.1 for the Spark tests: one master and two one-core
workers started with the venv's own `spark-class` (no Spark install needed), shared by the whole
test session and stopped by PID at the end."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

#: A master answers in ~5–10 s and workers register a few seconds later on an idle 2-core machine;
#: with 5 other test runs on the same cores it took up to ~40 s, hence the generous bound.
START_TIMEOUT_S = 180


@dataclass
class SparkCluster:
    url: str
    webui: str
    processes: list[subprocess.Popen]
    log_dir: Path

    def workers(self) -> list[dict]:
        with urllib.request.urlopen(f"{self.webui}/json/", timeout=5) as response:
            return json.load(response)["workers"]

    def alive_workers(self) -> list[dict]:
        return [w for w in self.workers() if w["state"] == "ALIVE"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spark_class() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-class"


def _start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    # Its own process group: a Ctrl-C of pytest does not reach it, teardown stops it by PID.
    return subprocess.Popen([str(_spark_class()), *args], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


def _wait(predicate, what: str, procs: list[subprocess.Popen], log_dir: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            raise RuntimeError(f"Spark process {dead[0].args[1:3]} exited with {dead[0].returncode}; logs in {log_dir}")
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{what} not up within {START_TIMEOUT_S} s; logs in {log_dir}")


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory) -> SparkCluster:
    log_dir = tmp_path_factory.mktemp("spark-cluster")
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable,
           "SPARK_WORKER_DIR": str(log_dir / "work"), "SPARK_LOG_DIR": str(log_dir)}
    port, webui = free_port(), free_port()
    url, webui_url = f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{webui}"
    procs: list[subprocess.Popen] = []
    cluster = SparkCluster(url, webui_url, procs, log_dir)
    try:
        procs.append(_start(["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
                             "--webui-port", str(webui)], log_dir / "master.log", env))
        _wait(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() is None,
              f"Spark master {url}", procs, log_dir)
        for i in (1, 2):
            procs.append(_start(["org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1",
                                 "--cores", "1", "--memory", "1g", "--webui-port", str(free_port()),
                                 "--work-dir", str(log_dir / f"work{i}")], log_dir / f"worker{i}.log", env))
        _wait(lambda: len(cluster.alive_workers()) == 2, "two Spark workers", procs, log_dir)
        yield cluster
    finally:
        for proc in reversed(procs):
            _stop(proc)
