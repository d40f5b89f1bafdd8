"""``WS /v1/live``: webcam frames in, the tracked faces of each frame out.

Each binary message is 8 bytes of little-endian float64 (the frame's timestamp in ms,
increasing) followed by a JPEG or PNG. Each answer is a JSON text message: ``time_ms``,
``frame``, ``width``, ``height``, ``faces`` (the same records as ``affectlens live --json``),
``received``, ``answered``, ``dropped`` and ``ms`` (analysis time). One
:class:`~affectlens.pipeline.video.VideoSession` per socket (tracks and smoothing are the
connection's own). While a frame is analysed only the newest frame that arrives is kept: the
others are dropped (counted), never queued.
"""

from __future__ import annotations

import asyncio
import io
import json
import struct
import time

import numpy as np
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from affectlens.export.records import records_of
from affectlens.serve.errors import ApiError, body
from affectlens.serve.guard import given_key, key_ok

HEADER = struct.Struct("<d")


def decode_frame(data: bytes, max_pixels: int) -> tuple[float, np.ndarray]:
    """(timestamp ms, RGB pixels) of one message; ApiError naming what is wrong."""
    from PIL import Image

    if len(data) <= HEADER.size:
        raise ApiError(400, "bad_request", "a live frame is 8 bytes of float64 timestamp (ms) then a JPEG")
    (time_ms,) = HEADER.unpack_from(data)
    if not np.isfinite(time_ms):
        raise ApiError(400, "bad_request", "the frame timestamp is not a finite number")
    try:
        with Image.open(io.BytesIO(data[HEADER.size :])) as img:
            if img.size[0] * img.size[1] > max_pixels:
                raise ApiError(413, "too_many_pixels", f"frame of {img.size[0]}x{img.size[1]} exceeds the pixel limit")
            rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except ApiError:
        raise
    except Exception:  # noqa: BLE001 - any decoder failure: not an image
        raise ApiError(415, "unsupported_media_type", "the frame is not a readable JPEG or PNG") from None
    return float(time_ms), rgb


class _Counts:
    def __init__(self):
        self.received = self.answered = self.dropped = 0


def router(service):
    from affectlens.pipeline.video import VideoSession
    from affectlens.serve.service import parse_options

    r = APIRouter()

    @r.websocket("/v1/live")
    async def live(ws: WebSocket):
        s = service.settings
        if not key_ok(s.api_key, given_key(ws)):
            await _deny(ws)
            return
        await ws.accept()
        try:
            service.require_ready()
            options = parse_options(ws.query_params.get("options"), s.options)
            if service.live_sockets >= s.live_sockets:
                raise ApiError(503, "busy", f"{service.live_sockets} live sockets open (limit {s.live_sockets})")
        except ApiError as exc:
            await ws.send_text(json.dumps(body(exc.code, exc.message)))
            await ws.close(code=1013 if exc.status == 503 else 1008)
            return
        service.live_sockets += 1
        session = VideoSession(service.runner(options).image_analyzer, options, source="live")
        try:
            await _serve(ws, session, s.max_pixels, WebSocketDisconnect)
        finally:
            service.live_sockets -= 1

    return r


async def _deny(ws) -> None:
    """401 in the one error shape where the server can answer a handshake with HTTP; else close 1008."""
    from fastapi.responses import JSONResponse

    message = "missing or wrong API key (send it as X-API-Key or ?api_key=)"
    try:
        await ws.send_denial_response(JSONResponse(body("unauthorized", message), status_code=401))
    except RuntimeError:  # no websocket.http.response extension
        await ws.close(code=1008, reason=message)


async def _serve(ws, session, max_pixels: int, disconnect) -> None:
    counts, slot, arrived = _Counts(), [None], asyncio.Event()

    async def reader():
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is None:
                continue
            counts.received += 1
            if slot[0] is not None:
                counts.dropped += 1
            slot[0] = data
            arrived.set()

    task = asyncio.create_task(reader())
    last = None
    try:
        while True:
            waiter = asyncio.create_task(arrived.wait())
            done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                waiter.cancel()
                return
            arrived.clear()
            data, slot[0] = slot[0], None
            try:
                time_ms, rgb = decode_frame(data, max_pixels)
                if last is not None and time_ms <= last:
                    raise ApiError(400, "bad_request", f"timestamp {time_ms} ms is not after the previous {last} ms")
                last = time_ms
                start = time.perf_counter()
                result = await asyncio.to_thread(session.process, rgb, time_ms)
                answer = {
                    "time_ms": time_ms,
                    "frame": result.frame,
                    "width": result.width,
                    "height": result.height,
                    "faces": records_of(result)[1],
                    "ms": round((time.perf_counter() - start) * 1000, 1),
                }
                counts.answered += 1
            except ApiError as exc:
                answer = body(exc.code, exc.message)
            answer.update(received=counts.received, answered=counts.answered, dropped=counts.dropped)
            await ws.send_text(json.dumps(answer))
    except disconnect:
        return
    finally:
        task.cancel()
