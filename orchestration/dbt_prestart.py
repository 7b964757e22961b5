"""A dbt started ahead, while ingestion runs: `dualwheel build`'s dbt step without dbt's start-up.

Every `dualwheel build` on DuckDB pays, before dbt's first model, a new Python process that
imports dbt (~1.5 s on 2 cores) and then profile loading and a (partial) parse (~1.35 s nightly;
~3.9 s on a fresh warehouse, whose target folder starts with a partial_parse.msgpack that
dagster-dbt copies from dbt_project/target, made for another DUALWHEEL_DB_PATH: dbt logs "Unable
to do partial parsing because profile has changed" and parses everything again). Meanwhile
ingestion leaves a core partly idle for 2.5 s (nightly) to 46 s (10M-order full build).

So `start()` spawns a server (`python -m orchestration.dbt_prestart serve`) before ingestion. It
imports dbt and runs a warm-up `dbt parse` into this warehouse's target folder with the profile
the dbt step will use (the working database's path), which leaves a partial_parse.msgpack that
matches, then waits for ONE connection. The dbt step (orchestration/defs/warehouse/dbt_models.py)
then runs dagster-dbt with `dbt_executable` = a tiny client script (stdlib only, `python -IS`,
20 ms) that hands the server its stdin/stdout/stderr (SCM_RIGHTS), argv, cwd and environment;
the server runs `dbtRunner().invoke(argv)` on those fds exactly as `dbt` would, so dagster-dbt
reads the same JSON log lines from the same pipe, and the client exits with dbt's exit code.

Correctness never depends on the warm-up: the invocation is an ordinary `dbt build` that does its
own partial parse (the warm-up only makes it cheap) and gets no preloaded manifest. If the server
is not there (never started, warm-up failed, crashed, already used), the client execs the venv's
real dbt with the same arguments: never worse than without prestart. The server serves once and
exits; unused, it exits when its parent process goes away or after IDLE_SECONDS, and cmd_build
stops it when the build ends without a dbt step (a failed ingestion gate).

Measured (4,000 orders, 2 cores at load 1.2-1.6, medians of 3): STEP_START to dbt's first node
5.6 -> 0.6 s and the dbt_models step 14.2 -> 7.3 s on a fresh warehouse; 2.9 -> 0.5 s and
11.1 -> 8.1 s nightly (the step gains 1.9 s / 0.6 s more after dbt's first node; not broken down,
plain dbt's interpreter teardown at exit is a likely part).
The waiting server holds ~140 MB RSS during ingestion.

Stdlib only: the `dualwheel` process imports this module without dbt.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

# An unused server gives up after this long (a build's ingestion at 10M orders is ~2 min).
IDLE_SECONDS = 3600

# The client: run by dagster-dbt as `<client> build ...` with dbt's env and cwd, through a
# two-line /bin/sh launcher (write_client) that runs this Python with `-IS`: no site packages, no
# PYTHON* variables (dagster-dbt's PYTHONUNBUFFERED, the caller's PYTHONPATH); it starts in ~20 ms.
# Not a `#!<python>` line: the kernel cuts one at the first blank (a venv under "My Projects")
# and older kernels read only 127 bytes of it. Protocol on the Unix socket:
#   client -> server: SCM_RIGHTS fds 0, 1, 2 with a 4-byte length, then that many bytes of JSON
#                     {"argv", "cwd", "env"}
#   server -> client: "started <pid>\n" once it takes the job (before that, nothing ran, so the
#                     client may still fall back to plain dbt), then "exit <code>\n" when dbt is done.
CLIENT = r'''# dualwheel's prestarted-dbt client (orchestration/dbt_prestart.py): generated, do not edit.
import json, os, signal, socket, struct, sys

SOCKET = {socket!r}
REAL_DBT = {real_dbt!r}


def plain_dbt():  # no server to talk to: exactly what would have run without prestart
    os.execv(REAL_DBT, [REAL_DBT, *sys.argv[1:]])


try:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(SOCKET)
    payload = json.dumps({{"argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ)}}).encode()
    socket.send_fds(conn, [struct.pack("!I", len(payload))], [0, 1, 2])
    conn.sendall(payload)
    reader = conn.makefile("r")
    started = reader.readline().split()
except OSError:
    plain_dbt()
if len(started) != 2 or started[0] != "started":
    plain_dbt()  # the server went away before running anything
server = int(started[1])


def forward(signum, frame):  # dagster-dbt interrupts dbt with SIGINT
    try:
        os.kill(server, signum)
    except OSError:
        pass


signal.signal(signal.SIGINT, forward)
signal.signal(signal.SIGTERM, forward)
while True:
    try:
        done = reader.readline().split()
        break
    except InterruptedError:
        continue
if len(done) == 2 and done[0] == "exit":
    sys.exit(int(done[1]))
sys.stderr.write("dualwheel: the prestarted dbt process (pid %d) ended without an exit code\n" % server)
sys.exit(2)
'''


@dataclass
class Prestarted:
    """A started server: its process, the folder holding its socket, client and log, and the client
    that runs as dbt."""

    warehouse: Path
    process: subprocess.Popen
    folder: Path
    client: Path
    used: bool = False


# The servers this process started, by warehouse: the dbt step uses one only when `start` ran in
# this same process (the CLI's in-process runs); UI and daemon runs find none and run plain dbt.
_REGISTRY: dict[Path, Prestarted] = {}


def _key(warehouse) -> Path:
    return Path(warehouse).resolve()


def write_client(client: Path, sock: Path) -> Path:
    """The client at `client` (an executable launcher) and its code, for the server at `sock`."""
    import shlex

    from orchestration.settings import VENV_DBT

    # <folder>/client/dbt: the process running the build still shows `/dbt ` in its command
    # line (`ps`, and tests that wait for dbt to be running).
    code = client.parent / "client" / client.name
    code.parent.mkdir(exist_ok=True)
    code.write_text(CLIENT.format(socket=str(sock), real_dbt=str(VENV_DBT)))
    client.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -IS {shlex.quote(str(code))} \"$@\"\n")
    client.chmod(0o700)
    return client


def start(warehouse: Path, work_db: Path) -> Prestarted | None:
    """Spawn the server for one warehouse; the dbt step of a run in this process will use it.
    None when it cannot be started (no temp dir, no free fd, ...): the build runs plain dbt."""
    stop(warehouse)
    try:
        return _start(warehouse, work_db)
    except OSError:
        return None


def _start(warehouse: Path, work_db: Path) -> Prestarted:
    from orchestration.settings import DBT_PROJECT_DIR, PROJECT_ROOT, dbt_target_for

    # A temporary folder, not the target folder: a Unix socket path is limited to ~107 bytes.
    folder = Path(tempfile.mkdtemp(prefix="dualwheel-dbt-"))
    sock = folder / "dbt.sock"
    client = write_client(folder / "dbt", sock)
    target = dbt_target_for(Path(warehouse))
    target.mkdir(parents=True, exist_ok=True)
    # What dbt_models sets before dbt.cli: the profile's path, part of the hash partial parsing checks.
    env = {**os.environ, "DUALWHEEL_DB_PATH": str(work_db), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    # Listening before the server process even starts: a client that comes early (the dbt step of a
    # build whose ingestion had nothing to do) waits in the backlog until the warm-up is done
    # instead of finding no socket and paying a whole plain dbt start.
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock))
    listener.listen(1)
    try:
        with open(folder / "server.log", "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "orchestration.dbt_prestart", "serve", "--fd", str(listener.fileno()),
                 "--socket", str(sock), "--target", str(target), "--project", str(DBT_PROJECT_DIR),
                 "--parent", str(os.getpid())],
                env=env, cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                pass_fds=[listener.fileno()],
                # Its own process group, so a Ctrl-C at the terminal reaches the build (whose dbt step
                # forwards it through the client) and not the server; an unused server is stopped by
                # stop(). Not its own session: Linux's scheduler autogroups share the CPU per
                # session, so a session of its own got a core while the CLI and the GX process
                # shared the other, whatever the warm-up's nice value (process start to the first
                # ingestion run 2.25-2.45 s without the server, 4.1-4.6 s with it in a session).
                process_group=0)
    finally:
        listener.close()  # the server's copy is the one that accepts
    prestarted = Prestarted(warehouse=_key(warehouse), process=process, folder=folder, client=client)
    _REGISTRY[prestarted.warehouse] = prestarted
    return prestarted


def take(warehouse) -> Path | None:
    """The client to run as dbt for this warehouse's next dbt invocation, once; None: plain dbt."""
    prestarted = _REGISTRY.get(_key(warehouse))
    if prestarted is None or prestarted.used or prestarted.process.poll() is not None:
        return None
    prestarted.used = True
    return prestarted.client


def stop(warehouse) -> None:
    """End this warehouse's server if still running (unused: the build ended before dbt) and
    remove its folder. A server that served has exited by the time its client returned."""
    prestarted = _REGISTRY.pop(_key(warehouse), None)
    if prestarted is None:
        return
    if prestarted.process.poll() is None:
        prestarted.process.terminate()
        try:
            prestarted.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            prestarted.process.kill()
            prestarted.process.wait()
    shutil.rmtree(prestarted.folder, ignore_errors=True)


# --------------------------------------------------------------------------------- the server


def _exit_code(result) -> int:
    """dbt's CLI exit codes (dbt/cli/main.py, dbt.utils.ExitCodes): 0 success, 1 the command ran
    but a node failed (ModelError), 2 dbt itself failed (UnhandledError)."""
    if result.success:
        return 0
    return 2 if result.exception is not None else 1


def _close_duckdb() -> None:
    """Close dbt-duckdb's database before reporting the exit code: plain dbt releases the working
    database's write lock by exiting (its atexit hook), and the dbt step opens that file right
    after dbt returns."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:
        return
    with DuckDBConnectionManager._LOCK:
        env, DuckDBConnectionManager._ENV = DuckDBConnectionManager._ENV, None
    if env is not None:
        env.close()
    import gc

    gc.collect()


def _watch(parent: int, folder: Path, state: dict) -> None:
    """Exit when unused and the build that started us is gone (killed, so stop() never ran:
    remove our folder too), or after IDLE_SECONDS unused (the folder stays: its client still
    falls back to plain dbt, and stop() removes it)."""
    deadline = time.monotonic() + IDLE_SECONDS
    while not state.get("serving"):
        if os.getppid() != parent:
            shutil.rmtree(folder, ignore_errors=True)
            os._exit(0)
        if time.monotonic() > deadline:
            os._exit(0)
        time.sleep(1)


def _warm_up(runner_class, project: str, target: str) -> bool:
    """Import everything `dbt build` needs and leave a partial_parse.msgpack in the target folder
    that matches this warehouse's profile. Its output goes to the server's log."""
    started = time.perf_counter()
    result = runner_class().invoke(["parse", "--project-dir", project, "--profiles-dir", project,
                                    "--target-path", target, "--log-path", target, "--quiet"])
    print(f"warm-up parse: success={result.success} in {time.perf_counter() - started:.2f} s", flush=True)
    return bool(result.success)


# The warm-up's nice value (0-19). It starts with the build, when the CLI loads Dagster and the
# Great Expectations process imports GX: at normal priority its ~3 s of CPU delayed the first
# ingestion run by ~2 s on 2 cores (process start to the run: 2.25-2.45 s without the server,
# 4.1-4.5 s with it). The dbt step needs it only later, and ingestion leaves spare cycles.
WARM_UP_NICENESS = 10


def _warm_up_at_low_priority(project: str, target: str, outcome: dict) -> None:
    """Import dbt and warm up in a thread of lower priority. On Linux a thread's nice value is its
    own (setpriority on its thread id), so the dbt invocation that follows in the main thread runs
    at normal priority (an unprivileged process could not raise its own priority back)."""
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WARM_UP_NICENESS)
        except OSError:
            pass
    started = time.perf_counter()
    try:
        from dbt.cli.main import dbtRunner

        print(f"import dbt: {time.perf_counter() - started:.2f} s", flush=True)
        outcome["runner"] = dbtRunner
        outcome["ok"] = _warm_up(dbtRunner, project, target)
    except BaseException as exc:  # the real dbt run will report it; the clients fall back to it
        print(f"warm-up failed: {exc!r}", flush=True)


def _interrupt_when_orphaned(parent: int) -> None:
    """SIGTERM (which stops dbt as Ctrl-C does) when the build dies while dbt runs here. Plain dbt
    is in the build's process group and dies with it (a killed build: `kill -9 -<pgid>`); this
    process has a group of its own and would go on writing the working database. Linux only
    (prctl PR_SET_PDEATHSIG); elsewhere dbt stops at its next write to the closed pipe."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # gone before the signal was armed
        os.kill(os.getpid(), signal.SIGTERM)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:  # stop() removed the folder
        pass


def serve(fd: int, sock_path: str, target: str, project: str, parent: int) -> int:
    state: dict = {}
    threading.Thread(target=_watch, args=(parent, Path(sock_path).parent, state), daemon=True).start()
    listener = socket.socket(fileno=fd)  # bound and listening since start()
    outcome: dict = {}
    warm_up = threading.Thread(target=_warm_up_at_low_priority, args=(project, target, outcome),
                               name="dbt-warm-up")
    warm_up.start()
    warm_up.join()
    dbtRunner, ok = outcome.get("runner"), outcome.get("ok", False)
    if not ok:
        listener.close()
        _unlink(sock_path)
        return 0
    conn, _ = listener.accept()
    state["serving"] = True
    listener.close()
    _unlink(sock_path)  # later clients find no server and run plain dbt
    with conn:
        msg, fds, _flags, _addr = socket.recv_fds(conn, 4, 3)
        if len(msg) < 4 or len(fds) != 3:
            return 2
        size = struct.unpack("!I", msg)[0]
        payload = b""
        while len(payload) < size:
            chunk = conn.recv(size - len(payload))
            if not chunk:
                return 2
            payload += chunk
        request = json.loads(payload)
        log_fd = os.dup(1)
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, target_fd in zip(fds, (0, 1, 2)):
            os.dup2(fd, target_fd)
            os.close(fd)
        # As under `dbt` with dagster-dbt's PYTHONUNBUFFERED=1: each log line reaches the pipe as
        # it is written, so dagster-dbt streams events while dbt runs.
        sys.stdout.reconfigure(line_buffering=True, write_through=True)
        sys.stderr.reconfigure(line_buffering=True, write_through=True)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = ["dbt", *request["argv"]]
        conn.sendall(f"started {os.getpid()}\n".encode())

        def interrupt(signum, frame):  # the client forwards SIGINT/SIGTERM: stop dbt as Ctrl-C does
            raise KeyboardInterrupt

        signal.signal(signal.SIGINT, interrupt)
        signal.signal(signal.SIGTERM, interrupt)
        _interrupt_when_orphaned(parent)
        try:
            code = _exit_code(dbtRunner().invoke(list(request["argv"])))
        except BaseException as exc:
            print(f"dbt ended with {exc!r}", file=sys.stderr, flush=True)
            code = 2
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _close_duckdb()
        sys.stdout.flush()
        sys.stderr.flush()
        # Give the pipe back before the exit code: dagster-dbt reads dbt's stdout until every
        # writer has closed it.
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        conn.sendall(f"exit {code}\n".encode())
    return 0


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m orchestration.dbt_prestart")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("serve", help="import dbt, warm up, then run one dbt invocation for a client")
    cmd.add_argument("--fd", type=int, required=True, help="the listening socket, inherited")
    cmd.add_argument("--socket", required=True)
    cmd.add_argument("--target", required=True)
    cmd.add_argument("--project", required=True)
    cmd.add_argument("--parent", type=int, required=True)
    args = parser.parse_args(argv)
    return serve(args.fd, args.socket, args.target, args.project, args.parent)


if __name__ == "__main__":
    rc = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)  # dbt is loaded: skip the interpreter's teardown (~1 s); the database is closed
