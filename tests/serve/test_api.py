"""The service's endpoints on real media: the same records as the CLI, jobs with progress and
results, events, cancel, models, health and metrics."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile

from .helpers import require_serve

require_serve()

API = {"X-API-Key": "k3y"}


def wait_job(client, job_id: str, timeout: float = 300.0, headers=None) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.3)
    raise TimeoutError(f"job {job_id} still {job['state']}")


def cli_json(path) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-m", "affectlens.cli", "analyze", str(path), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def test_analyze_gives_the_cli_records(make_client, photos):
    client = make_client()
    path = photos / "grace_hopper.jpg"
    with open(path, "rb") as f:
        multipart = client.post("/v1/analyze", files={"file": ("hopper.jpg", f, "image/jpeg")})
    raw = client.post("/v1/analyze", content=path.read_bytes(), headers={"Content-Type": "image/jpeg"})
    assert multipart.status_code == 200, multipart.text
    assert raw.status_code == 200, raw.text
    expected = cli_json(path)
    assert len(expected) == 1
    for got in (multipart.json()["records"], raw.json()["records"]):
        assert [{**r, "source": None} for r in got] == [{**r, "source": None} for r in expected]
    assert multipart.json()["records"][0]["source"] == "hopper.jpg"
    assert "not inner feelings" in multipart.json()["note"]


def test_analyze_options_change_the_result(make_client, photos):
    client = make_client()
    data = (photos / "solvay_conference_1927.jpg").read_bytes()
    default = client.post("/v1/analyze", content=data, headers={"Content-Type": "image/jpeg"}).json()["records"]
    strict = client.post(
        "/v1/analyze",
        content=data,
        headers={"Content-Type": "image/jpeg"},
        params={"options": json.dumps({"detection": {"threshold": 0.95}})},
    ).json()["records"]
    assert len(default) == 29
    assert 0 < len(strict) < len(default)
    bad = client.post(
        "/v1/analyze",
        content=data,
        headers={"Content-Type": "image/jpeg"},
        params={"options": json.dumps({"detection": {"treshold": 0.9}})},
    )
    assert bad.status_code == 422
    assert "treshold" in bad.json()["error"]["message"]


def test_text_endpoint(make_client):
    client = make_client()
    r = client.post(
        "/v1/text",
        json={
            "texts": ["I am so happy today", ""],
            "transcript": "1\n00:00:00,000 --> 00:00:02,000\nThis is disgusting.\n",
        },
    )
    assert r.status_code == 200, r.text
    recs = r.json()["records"]
    assert [x["status"] for x in recs] == ["ok", "empty", "ok"]
    assert recs[0]["emotion"] == "happiness"
    assert recs[2]["source"] == "transcript" and recs[2]["start_ms"] == 0
    assert client.post("/v1/text", json={}).status_code == 422


def test_video_job_progress_results_and_files(make_client, videos, monkeypatch):
    import affectlens.viz.timeline as timeline

    titles, plot = [], timeline.plot_timeline
    monkeypatch.setattr(timeline, "plot_timeline", lambda *a, **k: titles.append(k.get("title")) or plot(*a, **k))
    client = make_client()
    with open(videos / "smile_pyfeat_single_face.mp4", "rb") as f:
        r = client.post(
            "/v1/jobs",
            files={"file": ("smile.mp4", f, "video/mp4")},
            data={"options": json.dumps({"video": {"sampling": {"fps": 5}}})},
        )
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["state"] == "queued" and job["name"] == "smile.mp4"
    events = client.get(f"/v1/jobs/{job['id']}/events")  # streams until the job ends
    assert events.status_code == 200
    states = [json.loads(line[6:])["state"] for line in events.text.splitlines() if line.startswith("data: ")]
    assert states[-1] == "done" and "running" in states
    done = wait_job(client, job["id"])
    assert done["progress"]["done"] == done["progress"]["total"] == 12  # 2.4 s at 5 fps
    assert done["progress"]["fraction"] == 1.0 and done["progress"]["per_second"] > 0
    assert {
        "annotated.mp4",
        "timeline.png",
        "results.jsonl",
        "results.csv",
        "results.parquet",
        "results-segments.jsonl",
        "summary.csv",
    } <= set(done["files"])
    rows = [json.loads(line) for line in client.get(f"/v1/jobs/{job['id']}/results").text.splitlines()]
    assert len(rows) == 12 and all(r["source"] == "smile.mp4" for r in rows)
    import pandas as pd

    csv = pd.read_csv(io.StringIO(client.get(f"/v1/jobs/{job['id']}/results?format=csv").text))
    parquet = pd.read_parquet(io.BytesIO(client.get(f"/v1/jobs/{job['id']}/results?format=parquet").content))
    assert len(csv) == len(parquet) == 12
    summary = client.get(f"/v1/jobs/{job['id']}/files/summary.csv").text
    header, *tracks = summary.splitlines()
    assert header.startswith("source,track,first_ms,last_ms,frames,dominant,") and tracks
    # the client's name, and the cells as the CLI's --summary writes them (whole numbers stay whole)
    assert all(t.startswith("smile.mp4,") for t in tracks) and all(t.split(",")[4].isdigit() for t in tracks)
    seg = client.get(f"/v1/jobs/{job['id']}/results", params={"table": "segments"})
    assert seg.status_code == 200 and seg.text.strip()
    png = client.get(f"/v1/jobs/{job['id']}/files/timeline.png")
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    assert titles == ["smile.mp4"]  # the client's name, not the service's file
    assert client.get(f"/v1/jobs/{job['id']}/files/..%2Fjobs.sqlite3").status_code == 404
    assert client.get(f"/v1/jobs/{job['id']}/results?format=xml").status_code == 422
    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 200
    assert client.get(f"/v1/jobs/{job['id']}").status_code == 404


def test_zip_and_transcript_jobs(make_client, photos, tmp_path):
    client = make_client()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.write(photos / "grace_hopper.jpg", "a/hopper.jpg")
        zf.write(photos / "astronaut.png", "astronaut.png")
        zf.writestr("notes.txt", "not an image")
    r = client.post("/v1/jobs", files={"file": ("batch.zip", buf.getvalue(), "application/zip")})
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"])
    assert job["state"] == "done" and job["progress"]["done"] == job["progress"]["total"] == 2
    rows = [json.loads(line) for line in client.get(f"/v1/jobs/{job['id']}/results").text.splitlines()]
    assert sorted(r["source"] for r in rows) == ["batch.zip:astronaut.png", "batch.zip:hopper.jpg"]
    srt = "1\n00:00:00,000 --> 00:00:01,500\nI love this!\n\n2\n00:00:01,500 --> 00:00:03,000\nI hate it.\n"
    r = client.post("/v1/jobs", files={"file": ("talk.srt", srt.encode(), "application/x-subrip")})
    job = wait_job(client, r.json()["id"])
    rows = [json.loads(line) for line in client.get(f"/v1/jobs/{job['id']}/results").text.splitlines()]
    assert [r["text"] for r in rows] == ["I love this!", "I hate it."] and job["kind"] == "transcript"


def test_video_with_transcript_fuses_face_voice_and_text(make_client, videos):
    client = make_client()
    srt = "1\n00:00:00,500 --> 00:00:02,200\nset white with p two soon\n"
    r = client.post(
        "/v1/jobs",
        files={
            "file": ("grid.mpg", (videos / "talking_grid_s_swwp2s.mpg").read_bytes(), "video/mpeg"),
            "transcript": ("../grid.srt", srt.encode(), "application/x-subrip"),
        },
        data={"options": json.dumps({"video": {"sampling": {"fps": 5}}}), "annotate": "false"},
    )
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"])
    assert job["state"] == "done" and job["kind"] == "av" and "annotated.mp4" not in job["files"]
    segs = [json.loads(x) for x in client.get(f"/v1/jobs/{job['id']}/results?table=segments").text.splitlines()]
    assert segs and all(s["source"] == "grid.mpg" for s in segs)
    assert any(set(s["modalities"]) == {"face", "voice", "text"} for s in segs)
    bad = client.post(
        "/v1/jobs",
        files={"file": ("grid.mpg", (videos / "talking_grid_s_swwp2s.mpg").read_bytes(), "video/mpeg")},
        data={"options": json.dumps({"modalities": ["text"]})},
    )
    assert bad.status_code == 422 and "transcript" in bad.json()["error"]["message"]


def test_cancel_and_queue_limit(make_client, videos):
    client = make_client(max_queue=1)
    with open(videos / "multiface_whitehouse_hamilton_short.mp4", "rb") as f:
        data = f.read()
    first = client.post("/v1/jobs", files={"file": ("wh.mp4", data, "video/mp4")}).json()
    full = client.post("/v1/jobs", files={"file": ("wh.mp4", data, "video/mp4")})
    assert full.status_code == 503 and full.json()["error"]["code"] == "queue_full"
    end = time.monotonic() + 120
    while client.get(f"/v1/jobs/{first['id']}").json()["progress"]["done"] == 0 and time.monotonic() < end:
        time.sleep(0.2)
    gone = client.delete(f"/v1/jobs/{first['id']}")
    assert gone.status_code == 200 and gone.json()["state"] == "cancelled"
    assert client.get(f"/v1/jobs/{first['id']}").status_code == 404
    assert not (client.app.state.service.store.folder(first["id"])).exists()
    again = client.post("/v1/jobs", files={"file": ("wh.mp4", data, "video/mp4")})
    assert again.status_code == 202


def test_models_health_metrics_and_page(make_client):
    client = make_client()
    models = client.get("/v1/models").json()["models"]
    assert {m["kind"] for m in models} >= {"expression", "speech", "text"} and any(m["default"] for m in models)
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["ready"] is True
    metrics = client.get("/metrics").text
    assert 'affectlens_requests_total{method="GET",route="/v1/models",status="200"} 1.0' in metrics
    assert "affectlens_request_seconds_bucket" in metrics and 'affectlens_jobs{state="queued"} 0.0' in metrics
    page = client.get("/")
    assert page.status_code == 200 and "not inner feelings" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from a CDN
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/nope").json()["error"]["code"] == "not_found"


def test_api_key_on_every_endpoint_but_healthz(make_client):
    client = make_client(api_key="k3y")
    assert client.get("/healthz").status_code == 200
    for method, path in [
        ("get", "/readyz"),
        ("get", "/v1/models"),
        ("get", "/metrics"),
        ("get", "/v1/jobs"),
        ("post", "/v1/analyze"),
        ("post", "/v1/text"),
        ("get", "/v1/jobs/abc"),
        ("delete", "/v1/jobs/abc"),
    ]:
        r = getattr(client, method)(path, headers={"X-API-Key": "wrong"})
        assert r.status_code == 401, (path, r.status_code)
        assert r.json()["error"]["code"] == "unauthorized"
        assert getattr(client, method)(path).status_code == 401
    assert client.get("/v1/models", headers=API).status_code == 200
    for path in ("/", "/static/app.js", "/openapi.json"):  # the page and the schema too
        assert client.get(path).status_code == 401
        assert client.get(path, params={"api_key": "k3y"}).status_code == 200
    page = client.get("/", params={"api_key": "k3y"}).text
    assert "/static/app.js?api_key=k3y" in page  # the page passes the key on to its own files
    assert client.get("/v1/models", headers={"Authorization": "Bearer k3y"}).status_code == 200
    assert client.get("/v1/jobs/abc", params={"api_key": "k3y"}).status_code == 404


def test_rate_limit(make_client):
    client = make_client(rate_per_minute=30)  # /readyz polls count too
    codes = [client.get("/v1/jobs").status_code for _ in range(35)]
    first = codes.index(429)
    assert 0 < first <= 30 and set(codes[:first]) == {200} and set(codes[first:]) == {429}
    r = client.get("/v1/models")
    assert r.json()["error"]["code"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1
    assert client.get("/healthz").status_code == 200


def test_live_socket_tracks_faces(make_client, videos):
    from affectlens.serve.live import HEADER

    client = make_client()
    from affectlens.io.video import VideoReader

    reader = VideoReader(str(videos / "smile_pyfeat_single_face.mp4"))
    from PIL import Image

    answers = []
    with client.websocket_connect("/v1/live") as ws:
        for i, vf in enumerate(reader):
            if i % 6:
                continue
            buf = io.BytesIO()
            Image.fromarray(vf.rgb).save(buf, "JPEG", quality=85)
            ws.send_bytes(HEADER.pack(vf.time_ms) + buf.getvalue())
            answers.append(json.loads(ws.receive_text()))
        ws.send_bytes(HEADER.pack(0.0) + buf.getvalue())  # time going backwards: an error, socket stays open
        err = json.loads(ws.receive_text())
        ws.send_bytes(b"x" * 20)
        bad = json.loads(ws.receive_text())
    reader.close()
    assert len(answers) >= 10 and all(len(a["faces"]) == 1 for a in answers)
    assert len({a["faces"][0]["track"] for a in answers}) == 1
    assert answers[-1]["answered"] == len(answers) and answers[-1]["dropped"] == 0
    assert err["error"]["code"] == "bad_request" and bad["error"]["code"] == "unsupported_media_type"
