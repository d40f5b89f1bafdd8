"""Load on the HTTP service over loopback, bounded in time: ``affectlens serve`` started as a
subprocess on a free port with a temporary data folder.

1. ``POST /v1/analyze``: ``--clients`` concurrent clients (default 50) each posting 640x480
   JPEG portraits (the real photos in ../shared/media/photos, cropped and scaled) back to back
   for ``--seconds`` (default 60): images per second, latency p50/p99, errors (any status but
   200, or a failed connection), the server's resident memory (RSS) at start and end.
2. ``WS /v1/live``: ``--sockets`` sockets (default 4) each sending 640x480 JPEG frames of the
   real clip smile_pyfeat_single_face.mp4 at ``--fps`` (default 15) for ``--live-seconds``
   (default 30): frames answered per second per socket and the share the server dropped.

The machine's load average is recorded beside the numbers (a busy machine gives lower ones).
Prints a summary; writes benchmarks/results/serve_load.json only with ``--write``.

    python benchmarks/serve_load.py [--seconds 60] [--clients 50] [--live-seconds 30] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
PORTRAITS = ("grace_hopper.jpg", "astronaut.png", "newton.png", "gauss.png")
W, H = 640, 480


def jpeg(img: Image.Image) -> bytes:
    """``img`` centre-cropped to 4:3 and scaled to 640x480, as JPEG."""
    w, h = img.size
    cw, ch = (w, round(w * 3 / 4)) if w * 3 / 4 <= h else (round(h * 4 / 3), h)
    left, top = (w - cw) // 2, (h - ch) // 2
    buf = io.BytesIO()
    img.convert("RGB").crop((left, top, left + cw, top + ch)).resize((W, H), Image.BILINEAR).save(
        buf, "JPEG", quality=90
    )
    return buf.getvalue()


def portraits() -> list[bytes]:
    return [jpeg(Image.open(MEDIA / "photos" / name)) for name in PORTRAITS]


def clip_frames() -> list[tuple[float, bytes]]:
    import av

    with av.open(str(MEDIA / "videos" / "smile_pyfeat_single_face.mp4")) as c:
        return [(0.0, jpeg(Image.fromarray(f.to_ndarray(format="rgb24")))) for f in c.decode(video=0)]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(data: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src")] + sys.path)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "affectlens.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data),
            "--rate-per-minute",
            "1000000",
            "--request-timeout-s",
            "120",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import httpx

    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 180
    while time.monotonic() < end:
        try:
            if httpx.get(url + "/readyz", timeout=5).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("the server exited during start-up")
        time.sleep(0.3)
    proc.kill()
    raise TimeoutError("the server did not become ready in 180 s")


async def analyze_load(url: str, images: list[bytes], clients: int, seconds: float) -> dict:
    import httpx

    latencies, errors = [], []
    stop = time.monotonic() + seconds

    async def client(i: int, http):
        n = i
        while time.monotonic() < stop:
            body = images[n % len(images)]
            n += 1
            t = time.perf_counter()
            try:
                r = await http.post(url + "/v1/analyze", content=body, headers={"Content-Type": "image/jpeg"})
                if r.status_code == 200:
                    latencies.append(time.perf_counter() - t)
                else:
                    errors.append(f"{r.status_code} {r.text[:100]}")
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    start = time.monotonic()
    async with httpx.AsyncClient(timeout=180, limits=limits) as http:
        await asyncio.gather(*(client(i, http) for i in range(clients)))
    wall = time.monotonic() - start
    lat = np.array(latencies) * 1000
    return {
        "clients": clients,
        "seconds": round(wall, 1),
        "images": len(latencies),
        "images_per_s": round(len(latencies) / wall, 2),
        "p50_ms": round(float(np.percentile(lat, 50)), 1) if len(lat) else None,
        "p99_ms": round(float(np.percentile(lat, 99)), 1) if len(lat) else None,
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:5],
    }


async def live_load(url: str, frames: list[tuple[float, bytes]], sockets: int, fps: float, seconds: float) -> dict:
    import websockets

    header = __import__("struct").Struct("<d")

    async def one(i: int) -> dict:
        sent, answers, last = 0, 0, {}
        async with websockets.connect(url.replace("http", "ws") + "/v1/live", max_size=None) as ws:

            async def receive():
                nonlocal answers, last
                async for message in ws:
                    last = json.loads(message)
                    answers += "faces" in last

            reader = asyncio.create_task(receive())
            start = time.monotonic()
            while (now := time.monotonic()) - start < seconds:
                _, data = frames[(sent + i * 7) % len(frames)]
                await ws.send(header.pack((now - start) * 1000.0) + data)
                sent += 1
                await asyncio.sleep(max(0.0, start + sent / fps - time.monotonic()))
            await asyncio.sleep(2.0)  # answers still in flight
            wall = time.monotonic() - start
            reader.cancel()
        return {
            "sent": sent,
            "answered": answers,
            "answered_per_s": answers / wall,
            "dropped": last.get("dropped", 0),
            "received": last.get("received", sent),
        }

    results = await asyncio.gather(*(one(i) for i in range(sockets)))
    sent = sum(r["sent"] for r in results)
    dropped = sum(r["dropped"] for r in results)
    return {
        "sockets": sockets,
        "fps_sent_per_socket": fps,
        "seconds": seconds,
        "frames_sent": sent,
        "answered_per_s_per_socket": [round(r["answered_per_s"], 2) for r in results],
        "answered_per_s_total": round(sum(r["answered_per_s"] for r in results), 2),
        "dropped_share": round(dropped / max(sum(r["received"] for r in results), 1), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the /v1/analyze load (default 60)")
    ap.add_argument("--clients", type=int, default=50, help="concurrent /v1/analyze clients (default 50)")
    ap.add_argument("--live-seconds", type=float, default=30.0, help="length of the /v1/live load (default 30)")
    ap.add_argument("--sockets", type=int, default=4, help="/v1/live sockets (default 4)")
    ap.add_argument("--fps", type=float, default=15.0, help="frames per second per socket (default 15)")
    ap.add_argument("--write", action="store_true", help="write benchmarks/results/serve_load.json")
    args = ap.parse_args()
    images, frames = portraits(), clip_frames()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp) / "data")
        try:
            load_start, rss_start = os.getloadavg(), rss_mb(proc.pid)
            analyze = asyncio.run(analyze_load(url, images, args.clients, args.seconds))
            rss_mid = rss_mb(proc.pid)
            live = asyncio.run(live_load(url, frames, args.sockets, args.fps, args.live_seconds))
            rss_end, load_end = rss_mb(proc.pid), os.getloadavg()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    result = {
        "analyze": {**analyze, "rss_mb_start": round(rss_start, 1), "rss_mb_end": round(rss_mid, 1)},
        "live": {**live, "rss_mb_end": round(rss_end, 1)},
        "image": f"{W}x{H} JPEG portraits: {', '.join(PORTRAITS)}",
        "cpus": os.cpu_count(),
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in load_end],
        "command": "python benchmarks/serve_load.py " + " ".join(sys.argv[1:]),
    }
    print(json.dumps(result, indent=2))
    if args.write:
        out = ROOT / "benchmarks" / "results" / "serve_load.json"
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
