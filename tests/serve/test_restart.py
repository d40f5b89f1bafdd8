"""A server killed with SIGKILL mid-job and started again: the finished job and its results
are intact, the running one is failed with the reason, the queued one runs, none is lost or
duplicated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from .helpers import free_port, require_serve

require_serve()

pytestmark = pytest.mark.slow


def start(data, port):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "affectlens.cli",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data),
            "--workers",
            "1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    import httpx

    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    end = time.monotonic() + 180
    while time.monotonic() < end:
        try:
            if client.get("/readyz").status_code == 200:
                return proc, client
        except httpx.TransportError:
            pass
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.3)
    raise TimeoutError("server did not become ready")


def wait(client, job_id, until, timeout=300):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if until(job):
            return job
        time.sleep(0.2)
    raise TimeoutError(job)


def test_kill_9_mid_job_and_restart(tmp_path, videos, photos):
    data, port = tmp_path / "data", free_port()
    proc, client = start(data, port)
    try:
        quick = client.post(
            "/v1/jobs",
            files={"file": ("smile.mp4", (videos / "smile_pyfeat_single_face.mp4").read_bytes(), "video/mp4")},
            data={"options": json.dumps({"video": {"sampling": {"fps": 5}}}), "annotate": "false"},
        ).json()
        wait(client, quick["id"], lambda j: j["state"] == "done")
        before = client.get(f"/v1/jobs/{quick['id']}/results").content
        long = client.post(
            "/v1/jobs",
            files={"file": ("wh.mp4", (videos / "multiface_whitehouse_hamilton_short.mp4").read_bytes(), "video/mp4")},
        ).json()
        queued = client.post("/v1/text", json={"texts": ["ok"]})  # the sync path still answers mid-job
        assert queued.status_code == 200
        waiting = client.post(
            "/v1/jobs",
            files={
                "file": ("talk.srt", b"1\n00:00:00,000 --> 00:00:01,000\nWhat a lovely day!\n", "application/x-subrip")
            },
        ).json()
        wait(client, long["id"], lambda j: j["state"] == "running" and j["progress"]["done"] >= 3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        client.close()
    proc, client = start(data, port)
    try:
        jobs = client.get("/v1/jobs").json()["jobs"]
        assert sorted(j["id"] for j in jobs) == sorted([quick["id"], long["id"], waiting["id"]])  # no loss, no copy
        after = client.get(f"/v1/jobs/{quick['id']}")
        assert after.json()["state"] == "done"
        assert client.get(f"/v1/jobs/{quick['id']}/results").content == before
        failed = client.get(f"/v1/jobs/{long['id']}").json()
        assert failed["state"] == "failed" and "server stopped while this job was running" in failed["error"]
        assert not (data / "jobs" / long["id"] / "out").exists()
        done = wait(client, waiting["id"], lambda j: j["state"] in ("done", "failed"))
        assert done["state"] == "done"
        rows = client.get(f"/v1/jobs/{waiting['id']}/results").text.splitlines()
        assert len(rows) == 1 and json.loads(rows[0])["text"] == "What a lovely day!"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        client.close()
