"""Jobs: submit (a job id at once), status, server-sent progress events, results, files, cancel."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, StreamingResponse

from affectlens.export.records import TABLE_KINDS
from affectlens.export.writers import table_paths
from affectlens.jobs.run import Runner
from affectlens.serve.errors import ApiError
from affectlens.serve.inputs import ZIP_SUFFIXES, check_media, extract_images, job_suffix
from affectlens.serve.schemas import JobList, JobStatus
from affectlens.serve.service import parse_options
from affectlens.serve.store import FINAL, Job
from affectlens.serve.uploads import Limits, display_name, multipart_body, read_multipart
from affectlens.serve.worker import primary_table

JOB_BODY = multipart_body(
    "A video, an audio file, a .zip of images, or a transcript (.srt, .vtt, .json) or .txt.",
    {
        "transcript": {
            "type": "string",
            "format": "binary",
            "description": "The transcript (.srt, .vtt, .json) of a video or audio file.",
        },
        "annotate": {"type": "boolean", "default": True, "description": "Video: write the annotated video."},
        "timeline": {"type": "boolean", "default": True, "description": "Video: plot the timeline."},
    },
)
TRANSCRIPT_SUFFIXES = (".srt", ".vtt", ".json")
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


def status(job: Job) -> dict:
    fraction = min(job.done / job.total, 1.0) if job.total else None
    return {
        "id": job.id,
        "state": job.state,
        "kind": job.kind,
        "name": job.name,
        "created": job.created,
        "started": job.started,
        "finished": job.finished,
        "error": job.error,
        "files": list(job.files),
        "progress": {
            "done": job.done,
            "total": job.total,
            "unit": job.unit,
            "fraction": fraction,
            "per_second": round(job.rate, 3),
            "eta_s": None if job.eta_s is None else round(job.eta_s, 1),
        },
    }


def router(service):
    from affectlens.serve.guard import dependency

    r = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(dependency(service))])
    store = service.store

    def get(job_id: str) -> Job:
        job = store.get(job_id) if job_id.isalnum() else None
        if job is None:
            raise ApiError(
                404,
                "not_found",
                f"no job {job_id!r} (finished jobs are removed after {service.settings.retention_hours:g} h)",
            )
        return job

    @r.post("", response_model=JobStatus, status_code=202, openapi_extra=JOB_BODY)
    async def submit(request: Request):
        """A video, audio file, zip of images or transcript, plus the options tree → a job id at once."""
        counts = store.counts()
        waiting = counts["queued"] + counts["running"]
        if waiting >= service.settings.max_queue:
            raise ApiError(
                503,
                "queue_full",
                f"{waiting} jobs queued or running (limit {service.settings.max_queue}); try again later",
                {"Retry-After": "30"},
            )
        job_id = store.new_id()
        try:
            job = await _create(service, request, job_id)
        except BaseException:
            shutil.rmtree(store.folder(job_id), ignore_errors=True)
            raise
        service.workers.wake()
        return status(job)

    @r.get("", response_model=JobList)
    def list_jobs(limit: int = Query(100, ge=1, le=1000)):
        """The newest jobs first."""
        return {"jobs": [status(j) for j in store.list(limit)]}

    @r.get("/{job_id}", response_model=JobStatus)
    def job_status(job_id: str):
        """State, progress (done/total, per second, ETA) and error of one job."""
        return status(get(job_id))

    @r.get(
        "/{job_id}/events",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"}},
    )
    async def events(job_id: str, request: Request):
        """Server-sent events: one ``progress`` event (the job status) per change, until the job ends."""
        get(job_id)
        return StreamingResponse(
            _events(store, job_id, request),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @r.get(
        "/{job_id}/results",
        response_class=FileResponse,
        responses={200: {"content": {t: {} for t in MEDIA_TYPES.values()}, "description": "The result table"}},
    )
    def results(
        job_id: str,
        format: str = Query("jsonl", pattern="^(jsonl|csv|parquet)$"),
        table: str | None = Query(None, pattern="^(faces|segments|text)$"),
    ):
        """One result table (``faces``, ``segments`` or ``text``; default: the job's main one)."""
        job = _finished(get(job_id))
        primary = primary_table(job)
        name = table_paths(Path(f"results.{format}"), primary)[table or primary].name
        if name not in job.files:
            have = [k for k in TABLE_KINDS if table_paths(Path("results.jsonl"), primary)[k].name in job.files]
            raise ApiError(
                404,
                "not_found",
                f"job {job_id} has no {table or primary} table as {format}; tables: {', '.join(have) or 'none'}",
            )
        return FileResponse(store.folder(job_id) / "out" / name, media_type=MEDIA_TYPES[format], filename=name)

    @r.get("/{job_id}/files/{name}", response_class=FileResponse)
    def file(job_id: str, name: str):
        """One result file by its listed name (annotated.mp4, timeline.png, summary.csv, tables)."""
        job = _finished(get(job_id))
        if name not in job.files:
            raise ApiError(404, "not_found", f"job {job_id} has no file {name!r}; files: {', '.join(job.files)}")
        return FileResponse(store.folder(job_id) / "out" / name, filename=name)

    @r.delete("/{job_id}", response_model=JobStatus)
    async def delete(job_id: str):
        """Cancel the job if it is queued or running, and remove it and its files."""
        job = get(job_id)
        if job.state not in FINAL:
            service.workers.cancel(job_id)
            for _ in range(600):
                job = store.get(job_id)
                if job is None or job.state in FINAL or job.state == "queued":
                    break
                await asyncio.sleep(0.05)
        last = status(job) if job else status(get(job_id))
        store.delete(job_id)
        return {**last, "state": "cancelled" if last["state"] in ("queued", "running") else last["state"]}

    return r


def _finished(job: Job) -> Job:
    if job.state != "done":
        raise ApiError(409, "not_finished", f"job {job.id} is {job.state}; results exist once it is done")
    return job


async def _create(service, request, job_id: str) -> Job:
    s = service.settings
    folder = service.store.folder(job_id)
    upload, inputs = folder / "upload", folder / "input"
    upload.mkdir()
    inputs.mkdir()
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "multipart/form-data":
        raise ApiError(415, "unsupported_media_type", "a job is multipart/form-data with a 'file' part")
    parts = await read_multipart(request, upload, Limits(s.max_upload_bytes, s.request_timeout_s))
    file = parts.get("file")
    if file is None or file.path is None:
        raise ApiError(422, "invalid", "multipart body without a 'file' part")
    if not file.size:
        raise ApiError(400, "bad_request", "the 'file' part is empty")
    name = display_name(file.filename, "input")
    options = parse_options(parts["options"].text if "options" in parts else None, s.options)
    suffix = job_suffix(file.filename, file.content_type)
    kind = _place(file.path, suffix, inputs, name, s)
    if "transcript" in parts:
        options = _transcript(parts["transcript"], inputs, options)
    try:
        Runner(options)  # the job layer's own check of the options (e.g. text without a transcript)
    except ValueError as exc:
        raise ApiError(422, "invalid", f"options: {exc}") from None
    outputs = {k: _flag(parts, k) for k in ("annotate", "timeline")}
    shutil.rmtree(upload, ignore_errors=True)
    return service.store.add(job_id, kind, name, options.to_dict(), outputs)


def _place(path: Path, suffix: str, inputs: Path, name: str, settings) -> str:
    """Move the upload to ``input/`` (extracting a zip); the job's kind."""
    if suffix in ZIP_SUFFIXES:
        extract_images(path, inputs / "images", name, settings)
        return "images"
    target = inputs / f"main{suffix}"
    path.rename(target)
    if suffix in TRANSCRIPT_SUFFIXES:
        return "transcript"
    if suffix == ".txt":
        return "text"
    check_media(target, name, settings)
    from affectlens.jobs.probe import probe

    return probe(target).kind


def _transcript(part, inputs: Path, options):
    suffix = Path(display_name(part.filename, "t")).suffix.lower()
    if part.path is None or suffix not in TRANSCRIPT_SUFFIXES:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"transcript {display_name(part.filename)}: valid: {', '.join(TRANSCRIPT_SUFFIXES)}",
        )
    target = inputs / f"transcript{suffix}"
    part.path.rename(target)
    return options.replace(transcript=target.name)


def _flag(parts, key: str) -> bool:
    if key not in parts:
        return True
    value = parts[key].text.strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        raise ApiError(422, "invalid", f"{key}: expected true or false, got {value[:20]!r}")
    return value in ("true", "1", "yes", "on")


async def _events(store, job_id: str, request):
    last, quiet = None, 0.0
    while True:
        job = store.get(job_id)
        if job is None:
            yield "event: gone\ndata: {}\n\n"
            return
        now = json.dumps(status(job))
        if now != last:
            yield f"event: progress\ndata: {now}\n\n"
            last, quiet = now, 0.0
        elif quiet >= 15:
            yield ": keep-alive\n\n"
            quiet = 0.0
        if job.state in FINAL or await request.is_disconnected():
            return
        await asyncio.sleep(0.25)
        quiet += 0.25
