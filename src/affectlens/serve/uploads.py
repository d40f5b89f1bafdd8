"""Request bodies to files under the data folder, within the size and time limits.

The body is streamed to disk chunk by chunk: a Content-Length over the limit is refused before
anything is read, and a body that grows past it (chunked, or lying about its length) is cut
off at the limit. Multipart bodies are parsed as they stream (python-multipart), never spooled
to the system's temp folder. Client file names are kept only as text (their suffix may tell
the kind of a job input); every file on disk gets a name made here.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

from affectlens.serve.errors import ApiError

#: Form fields (not files) larger than this are refused.
MAX_FIELD_BYTES = 1024 * 1024
MAX_PARTS = 8


@dataclass
class Part:
    """One uploaded file (``path`` set) or form field (``value`` set)."""

    name: str
    filename: str | None = None
    content_type: str = ""
    path: Path | None = None
    value: bytearray = field(default_factory=bytearray)
    size: int = 0

    @property
    def text(self) -> str:
        try:
            return self.value.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "bad_request", f"form field {self.name!r} is not UTF-8 text") from None


def display_name(filename: str | None, default: str = "upload") -> str:
    """A client's file name reduced to its last component, printable, at most 120 characters:
    shown in results, never used as a path."""
    if not filename:
        return default
    base = PureWindowsPath(PurePosixPath(filename).name).name
    clean = "".join(c for c in base if c.isprintable() and c not in "/\\\x00").strip().lstrip(".")
    return clean[:120] or default


class Limits:
    """One request's byte and time budget."""

    def __init__(self, max_bytes: int, timeout_s: float):
        self.max_bytes, self.timeout_s = max_bytes, timeout_s
        self.start = time.monotonic()
        self.read = 0

    def check_length(self, headers) -> None:
        length = headers.get("content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                raise ApiError(400, "bad_request", f"Content-Length {length!r} is not a number") from None
            if n > self.max_bytes:
                raise self.too_large(n)

    def too_large(self, n: int | None = None) -> ApiError:
        got = f" ({n / 1e6:.1f} MB)" if n else ""
        return ApiError(413, "too_large", f"request body{got} exceeds the limit of {self.max_bytes / 1e6:.1f} MB")

    def add(self, n: int) -> None:
        self.read += n
        if self.read > self.max_bytes:
            raise self.too_large()

    async def chunks(self, request):
        """The body's chunks, each awaited within what is left of the request's time budget."""
        from starlette.requests import ClientDisconnect

        stream = request.stream().__aiter__()
        while True:
            left = self.timeout_s - (time.monotonic() - self.start)
            try:
                chunk = await asyncio.wait_for(stream.__anext__(), timeout=max(left, 0.001))
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise ApiError(408, "timeout", f"request body not received within {self.timeout_s:g} s") from None
            except ClientDisconnect:
                raise ApiError(400, "bad_request", "the client closed the connection before the body ended") from None
            if chunk:
                self.add(len(chunk))
                yield chunk


async def read_raw(request, folder: Path, limits: Limits) -> Part:
    """The whole body as one file in ``folder``."""
    limits.check_length(request.headers)
    path = folder / f"{uuid.uuid4().hex}.bin"
    try:
        with open(path, "wb") as f:
            async for chunk in limits.chunks(request):
                f.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    part = Part("body", request.headers.get("x-filename"), request.headers.get("content-type", ""), path)
    part.size = path.stat().st_size
    if not part.size:
        raise ApiError(400, "bad_request", "empty request body")
    return part


async def read_multipart(request, folder: Path, limits: Limits) -> dict[str, Part]:
    """Every part of a multipart/form-data body: files into ``folder``, fields in memory."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    limits.check_length(request.headers)
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, "bad_request", "multipart body without a boundary in its Content-Type")
    sink = _Sink(folder)
    parser = MultipartParser(boundary, sink.callbacks())
    try:
        async for chunk in limits.chunks(request):
            parser.write(chunk)
            sink.raise_pending()
        parser.finalize()
    except ApiError:
        sink.discard()
        raise
    except Exception as exc:  # noqa: BLE001 - python-multipart's errors are all malformed bodies
        sink.discard()
        raise ApiError(400, "bad_request", f"malformed multipart body: {exc}") from None
    sink.close()
    if not sink.ended:
        sink.discard()
        raise ApiError(400, "bad_request", "truncated multipart body (no closing boundary)")
    return sink.parts


class _Sink:
    """python-multipart callbacks writing each part to its own file or buffer."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.parts: dict[str, Part] = {}
        self.current: Part | None = None
        self.file = None
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.headers: dict[str, str] = {}
        self.ended = False
        self.error: ApiError | None = None

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._begin,
            "on_part_data": self._data,
            "on_part_end": self._end,
            "on_header_field": lambda d, s, e: self.header_field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self.header_value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_done,
            "on_end": self._finished,
        }

    def raise_pending(self) -> None:
        if self.error is not None:
            raise self.error

    def _begin(self) -> None:
        self.headers, self.current = {}, None

    def _header_end(self) -> None:
        self.headers[self.header_field.decode("latin-1").lower()] = self.header_value.decode("latin-1")
        self.header_field, self.header_value = bytearray(), bytearray()

    def _headers_done(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, params = parse_options_header(self.headers.get("content-disposition", ""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        if len(self.parts) >= MAX_PARTS or name in self.parts:
            self.error = ApiError(400, "bad_request", f"too many or repeated form parts ({name!r})")
            self.current = Part(name)  # swallowed
            return
        part = Part(
            name,
            filename.decode("utf-8", "replace") if filename is not None else None,
            self.headers.get("content-type", ""),
        )
        if part.filename is not None:
            part.path = self.folder / f"{uuid.uuid4().hex}.bin"
            self.file = open(part.path, "wb")  # noqa: SIM115 - closed at the part's end
        self.parts[name] = self.current = part

    def _data(self, data: bytes, start: int, end: int) -> None:
        part = self.current
        if part is None or self.error is not None:
            return
        part.size += end - start
        if self.file is not None:
            self.file.write(data[start:end])
        elif part.size > MAX_FIELD_BYTES:
            self.error = ApiError(413, "too_large", f"form field {part.name!r} exceeds {MAX_FIELD_BYTES} bytes")
        else:
            part.value.extend(data[start:end])

    def _end(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        self.current = None

    def _finished(self) -> None:
        self.ended = True

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def discard(self) -> None:
        """Close and delete every file written so far (a refused body leaves nothing behind)."""
        self.close()
        for part in self.parts.values():
            if part.path is not None:
                part.path.unlink(missing_ok=True)


def multipart_body(file_help: str, extra: dict | None = None, raw_types: tuple[str, ...] = ()) -> dict:
    """The OpenAPI ``requestBody`` of an upload route: a multipart ``file`` (described by
    ``file_help``) with the options tree as a JSON ``options`` field, plus ``extra`` fields; each
    of ``raw_types`` also accepts the file itself as the body."""
    properties = {
        "file": {"type": "string", "format": "binary", "description": file_help},
        "options": {"type": "string", "description": "The options tree as a JSON object."},
        **(extra or {}),
    }
    content = {"multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": properties}}}
    content.update({t: {"schema": {"type": "string", "format": "binary"}} for t in raw_types})
    return {"requestBody": {"required": True, "content": content}}
