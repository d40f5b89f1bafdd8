"""Hostile input against a real server on a loopback socket: each case gets its error (one JSON
shape, the right status), nothing is written outside the data folder, and the next request
is served."""

from __future__ import annotations

import io
import json
import socket
import time
import uuid
import zipfile

import pytest

from .helpers import ThreadServer, require_serve, wait_ready

require_serve()

LIMIT_MB = 3.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import httpx

    from affectlens.serve import Settings, create_app

    root = tmp_path_factory.mktemp("hostile")
    settings = Settings(
        data_dir=root / "data",
        api_key="k3y",
        max_upload_mb=LIMIT_MB,
        max_zip_mb=5,
        request_timeout_s=60.0,  # generous: a loaded machine must not fail the other cases
        max_pixels=40_000_000,
    )
    with ThreadServer(create_app(settings)) as srv:
        srv.root = root
        srv.http = httpx.Client(base_url=srv.url, headers={"X-API-Key": "k3y"}, timeout=60)
        wait_ready(srv.http)
        yield srv
        srv.http.close()


def raw(server, head: bytes, body: bytes = b"", pause: float = 0.0) -> tuple[int, dict]:
    """Send a hand-made request in 64 kB pieces, stopping as soon as the server answers (it may
    refuse the body before reading it); the status and JSON body of the answer."""
    import select

    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(head)
        for i in range(0, len(body), 1 << 16):
            if select.select([s], [], [], 0)[0]:
                break
            try:
                s.sendall(body[i : i + (1 << 16)])
            except OSError:  # the server closed its side after answering
                break
        if pause:
            time.sleep(pause)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    head_text, _, payload = data.partition(b"\r\n\r\n")
    status = int(head_text.split(b" ", 2)[1])
    return status, json.loads(payload[: _length(data)] or b"{}")


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def still_serving(server, photos) -> None:
    assert server.http.get("/healthz").status_code == 200
    r = server.http.post(
        "/v1/analyze", content=(photos / "grace_hopper.jpg").read_bytes(), headers={"Content-Type": "image/jpeg"}
    )
    assert r.status_code == 200 and len(r.json()["records"]) == 1


def files_outside(server) -> set[str]:
    return {p.name for p in server.root.iterdir()} - {"data"}


def test_body_over_the_limit_is_refused_before_it_is_read(server, photos):
    head = (
        b"POST /v1/analyze HTTP/1.1\r\nHost: x\r\nX-API-Key: k3y\r\nContent-Type: image/jpeg\r\n"
        b"Content-Length: 500000000\r\n\r\n"
    )
    start = time.monotonic()
    status, body = raw(server, head, b"\xff\xd8" * 1000)  # 2 kB sent of a claimed 500 MB
    assert status == 413 and body["error"]["code"] == "too_large"
    assert time.monotonic() - start < 10
    chunked = (
        b"POST /v1/analyze HTTP/1.1\r\nHost: x\r\nX-API-Key: k3y\r\nContent-Type: image/jpeg\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    block = b"%x\r\n" % (1 << 20) + b"\0" * (1 << 20) + b"\r\n"
    status, body = raw(server, chunked, block * 4)  # 4 MB with no length given
    assert status == 413
    still_serving(server, photos)


def test_slow_upload_times_out(tmp_path, photos):
    import httpx

    from affectlens.serve import Settings, create_app

    settings = Settings(data_dir=tmp_path / "data", api_key="k3y", request_timeout_s=2.0)
    with ThreadServer(create_app(settings)) as srv:
        srv.http = httpx.Client(base_url=srv.url, headers={"X-API-Key": "k3y"}, timeout=120)
        wait_ready(srv.http)
        head = (
            b"POST /v1/analyze HTTP/1.1\r\nHost: x\r\nX-API-Key: k3y\r\nContent-Type: image/jpeg\r\n"
            b"Content-Length: 10000\r\n\r\n"
        )
        status, body = raw(srv, head, b"\xff\xd8" * 10, pause=0.0)  # 20 of 10,000 bytes, then nothing
        assert status == 408 and body["error"]["code"] == "timeout"
        assert srv.http.get("/healthz").status_code == 200
        srv.http.close()


def test_truncated_multipart(server, photos):
    data = (photos / "grace_hopper.jpg").read_bytes()
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + data[:20000]
    )  # no rest, no closing boundary
    r = server.http.post("/v1/analyze", content=body, headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
    assert r.status_code == 400 and "truncated" in r.json()["error"]["message"]
    r = server.http.post("/v1/jobs", content=body, headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
    assert r.status_code == 400
    r = server.http.post("/v1/analyze", content=b"garbage", headers={"Content-Type": "multipart/form-data"})
    assert r.status_code == 400 and "boundary" in r.json()["error"]["message"]
    assert server.http.get("/v1/jobs").json()["jobs"] == []  # the failed job left nothing behind
    still_serving(server, photos)


def bomb_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (12000, 12000)).save(buf, "PNG")  # 144 Mpx in a few kB
    return buf.getvalue()


def test_decompression_bomb_image(server, photos):
    bomb = bomb_png()
    assert len(bomb) < 100_000
    r = server.http.post("/v1/analyze", content=bomb, headers={"Content-Type": "image/png"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_many_pixels"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ok.jpg", (photos / "grace_hopper.jpg").read_bytes())
        zf.writestr("bomb.png", bomb)
    r = server.http.post("/v1/jobs", files={"file": ("b.zip", buf.getvalue(), "application/zip")})
    assert r.status_code == 413 and "bomb.png" in r.json()["error"]["message"]
    r = server.http.post("/v1/analyze", content=b"not an image at all", headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 415
    still_serving(server, photos)


def test_zip_bomb(server, photos):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.png", b"\0" * (60 << 20))  # 60 MB of zeros: ~60 kB compressed
    assert len(buf.getvalue()) < 200_000
    r = server.http.post("/v1/jobs", files={"file": ("z.zip", buf.getvalue(), "application/zip")})
    assert r.status_code == 413 and "zip bomb" in r.json()["error"]["message"]
    jobs_dir = server.root / "data" / "jobs"
    assert sum(f.stat().st_size for f in jobs_dir.rglob("*") if f.is_file()) < 1 << 20
    still_serving(server, photos)


def test_path_traversal_names(server, photos):
    tag = uuid.uuid4().hex[:8]
    name = f"../../../{tag}.jpg"
    r = server.http.post(
        "/v1/analyze", files={"file": (name, (photos / "grace_hopper.jpg").read_bytes(), "image/jpeg")}
    )
    assert r.status_code == 200 and r.json()["records"][0]["source"] == f"{tag}.jpg"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"../../{tag}.jpg", (photos / "grace_hopper.jpg").read_bytes())
        zf.writestr(f"/abs/{tag}-2.jpg", (photos / "grace_hopper.jpg").read_bytes())
    r = server.http.post("/v1/jobs", files={"file": (f"..\\..\\{tag}.zip", buf.getvalue(), "application/zip")})
    assert r.status_code == 202
    job = r.json()
    assert job["name"] == f"{tag}.zip"
    end = time.monotonic() + 120
    while server.http.get(f"/v1/jobs/{job['id']}").json()["state"] not in ("done", "failed"):
        assert time.monotonic() < end
        time.sleep(0.3)
    rows = [json.loads(x) for x in server.http.get(f"/v1/jobs/{job['id']}/results").text.splitlines()]
    assert sorted(r["source"] for r in rows) == [f"{tag}.zip:{tag}-2.jpg", f"{tag}.zip:{tag}.jpg"]
    assert files_outside(server) == set()
    assert not list(server.root.parent.glob(f"{tag}*")) and not list(server.root.parent.parent.glob(f"{tag}*"))
    r = server.http.get(f"/v1/jobs/{job['id']}/files/..%2F..%2Fjobs.sqlite3")
    assert r.status_code == 404
    still_serving(server, photos)


def test_wrong_api_key(server, photos):
    import httpx

    for key in (None, "wrong", "K3Y", "k3y" * 100):
        headers = {"X-API-Key": key} if key else {}
        r = httpx.get(server.url + "/v1/models", headers=headers)
        assert r.status_code == 401 and r.json() == {
            "error": {
                "code": "unauthorized",
                "message": "missing or wrong API key (send it as X-API-Key, or open /?api_key=KEY)",
            }
        }
    assert httpx.get(server.url + "/healthz").status_code == 200
    import websockets.sync.client as wsc
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as denied:
        wsc.connect(server.url.replace("http", "ws") + "/v1/live?api_key=wrong")
    assert denied.value.response.status_code == 401
    assert json.loads(denied.value.response.body)["error"]["code"] == "unauthorized"
    with wsc.connect(server.url.replace("http", "ws") + "/v1/live?api_key=k3y") as ws:
        ws.send(b"\0" * 20)
        assert json.loads(ws.recv(timeout=30))["error"]["code"] in ("bad_request", "unsupported_media_type")
    still_serving(server, photos)


def test_sync_analysis_timeout(tmp_path, photos):
    import httpx

    from affectlens.serve import Settings, create_app

    settings = Settings(data_dir=tmp_path / "data", request_timeout_s=0.05)  # far below any real analysis
    with ThreadServer(create_app(settings)) as srv:
        with httpx.Client(base_url=srv.url, timeout=60) as http:
            wait_ready(http)
            r = http.post(
                "/v1/analyze",
                content=(photos / "solvay_conference_1927.jpg").read_bytes(),
                headers={"Content-Type": "image/jpeg"},
            )
            assert r.status_code == 503 and r.json()["error"]["code"] == "timeout"
            assert http.get("/healthz").status_code == 200  # the next request is served


def test_wrong_types(server, photos):
    r = server.http.post("/v1/analyze", content=b"{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 415
    r = server.http.post("/v1/jobs", files={"file": ("x.exe", b"MZ" * 100, "application/x-msdownload")})
    assert r.status_code == 415 and "unsupported input type" in r.json()["error"]["message"]
    r = server.http.post("/v1/jobs", files={"file": ("x.mp4", b"not a video" * 100, "video/mp4")})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unreadable_input"
    r = server.http.post(
        "/v1/jobs",
        files={"file": ("x.srt", b"1\n", "text/plain")},
        data={"options": json.dumps({"text": {"transcript": "/etc/passwd"}})},
    )
    assert r.status_code == 422 and "server path" in r.json()["error"]["message"]
    r = server.http.get("/v1/jobs/0123456789abcdef")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    still_serving(server, photos)
