"""Synchronous endpoints: health, readiness, models, one image, texts."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request

from affectlens.export.records import records_of
from affectlens.jobs.run import Texts, Typed
from affectlens.serve.errors import ApiError
from affectlens.serve.inputs import check_image, remove
from affectlens.serve.schemas import Health, ModelList, Ready, Records, TextRequest
from affectlens.serve.service import parse_options
from affectlens.serve.uploads import Limits, display_name, multipart_body, read_multipart, read_raw
from affectlens.types import InputFailure

IMAGE_BODY = multipart_body("One image (JPEG, PNG, WebP ...).", raw_types=("image/*", "application/octet-stream"))


def router(service):
    from affectlens.serve.guard import dependency

    guarded = [Depends(dependency(service))]
    r = APIRouter()

    @r.get("/healthz", response_model=Health, tags=["health"])
    def healthz():
        """The process is up (no key needed)."""
        return {"status": "ok"}

    @r.get("/readyz", response_model=Ready, tags=["health"], dependencies=guarded)
    def readyz():
        """200 once the models are loaded; 503 before (or when loading failed)."""
        if not service.ready.is_set():
            detail = f"models failed to load: {service.load_error}" if service.load_error else "loading models"
            from fastapi.responses import JSONResponse

            return JSONResponse({"ready": False, "models": service.loaded, "detail": detail}, status_code=503)
        return {"ready": True, "models": service.loaded, "detail": ""}

    @r.get("/v1/models", response_model=ModelList, tags=["models"], dependencies=guarded)
    def models():
        """Every registered model: kind, labels, metrics, licence; ``default`` per kind."""
        from affectlens.registry import default_model_name, list_models

        cfgs = list_models()
        defaults = {default_model_name(kind) for kind in {c.kind for c in cfgs}}
        return {"models": [{**c.to_json(), "default": c.name in defaults} for c in cfgs]}

    @r.post("/v1/analyze", response_model=Records, tags=["analyze"], dependencies=guarded, openapi_extra=IMAGE_BODY)
    async def analyze(request: Request):
        """One image (a multipart ``file``, or the raw body) → one record per face, the same records
        as ``affectlens analyze --json``. Options: a multipart ``options`` field or ``?options=``."""
        service.require_ready()
        part, options_text = await _image_part(request, service)
        try:
            name = display_name(part.filename, "image")
            check_image(part.path, name, service.settings)
            options = parse_options(options_text or request.query_params.get("options"), service.settings.options)
            return await service.call(_analyze_image, service, part.path, name, options)
        finally:
            remove(part.path)

    @r.post("/v1/text", response_model=Records, tags=["analyze"], dependencies=guarded)
    async def text(body: TextRequest):
        """Texts, or a transcript's content (.srt/.vtt) → one text record each (as ``affectlens text --json``)."""
        if not body.texts and not body.transcript:
            raise ApiError(422, "invalid", "nothing to score: give texts or a transcript")
        options = parse_options(_json(body.options), service.settings.options)
        return await service.call(_score_texts, service, body, options)

    return r


async def _image_part(request, service):
    s = service.settings
    limits = Limits(s.max_upload_bytes, s.request_timeout_s)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        parts = await read_multipart(request, service.tmp, limits)
        file = parts.pop("file", None)
        options = parts.pop("options", None)
        for p in parts.values():
            remove(p.path)
        if file is None or file.path is None:
            raise ApiError(422, "invalid", "multipart body without a 'file' part")
        return file, options.text if options else None
    if ctype.startswith("image/") or ctype == "application/octet-stream":
        return await read_raw(request, service.tmp, limits), None
    raise ApiError(
        415,
        "unsupported_media_type",
        f"Content-Type {ctype or '(none)'} is not an image; send "
        "multipart/form-data with a 'file' part, or the image with an image/* Content-Type",
    )


def _analyze_image(service, path, name: str, options) -> dict:
    runner = service.runner(options)
    result = next(iter(runner.run([str(path)])))
    if isinstance(result, InputFailure):
        raise ApiError(422, "unreadable_input", result.reason.replace(str(path), name))
    _, records = records_of(result)
    for rec in records:
        rec["source"] = name
    return {"records": records, "model": result.model}


def _score_texts(service, body: TextRequest, options) -> dict:
    runner = service.runner(options)
    inputs: list = [Texts(tuple(body.texts), source="texts")] if body.texts else []
    path = None
    if body.transcript:
        suffix = ".vtt" if body.transcript.lstrip("\ufeff").startswith("WEBVTT") else ".srt"
        path = service.tmp / f"{uuid.uuid4().hex}{suffix}"
        path.write_text(body.transcript, encoding="utf-8")
        inputs.append(Typed(str(path), "transcript"))
    try:
        records = []
        for result in runner.run(inputs):
            if isinstance(result, InputFailure):
                raise ApiError(422, "unreadable_input", result.reason.replace(str(path), "transcript"))
            _, recs = records_of(result)
            for rec in recs:
                if path is not None and rec.get("source") == str(path):
                    rec["source"] = "transcript"
            records += recs
        return {"records": records, "model": records[0].get("model", "") if records else ""}
    finally:
        remove(path)


def _json(data: dict) -> str | None:
    import json

    return json.dumps(data) if data else None
