"""The service's request and response bodies (pydantic): what the OpenAPI schema publishes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. too_large, not_found.")
    message: str = Field(description="One line naming the input and the reason.")


class ErrorBody(BaseModel):
    error: ErrorDetail


class Records(BaseModel):
    """The same records as ``affectlens analyze --json`` (one per face; one per text)."""

    records: list[dict[str, Any]]
    model: str = Field("", description="The model that produced the records.")
    note: str = Field("Perceived facial expressions, not inner feelings.")


class TextRequest(BaseModel):
    texts: list[str] = Field(default_factory=list, max_length=10000, description="Texts to score (English).")
    transcript: str | None = Field(
        None, max_length=5_000_000, description="A transcript's content (.srt or .vtt text); scored per segment."
    )
    options: dict[str, Any] = Field(default_factory=dict, description="The options tree (text stage is read).")


JobStateName = Literal["queued", "running", "done", "failed", "cancelled"]


class JobProgress(BaseModel):
    done: int
    total: int = Field(description="0 when unknown yet.")
    unit: str
    fraction: float | None = Field(None, description="done / total, when total is known.")
    per_second: float = Field(description="Units (frames, images) per second so far.")
    eta_s: float | None = Field(None, description="Seconds left at the current rate.")


class JobStatus(BaseModel):
    id: str
    state: JobStateName
    kind: str
    name: str = Field(description="The uploaded file's name (shown only).")
    created: float
    started: float | None = None
    finished: float | None = None
    progress: JobProgress
    error: str | None = None
    files: list[str] = Field(default_factory=list, description="Result files, under /v1/jobs/{id}/files/{name}.")


class JobList(BaseModel):
    jobs: list[JobStatus]


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    ready: bool
    models: list[str]
    detail: str = ""


class ModelList(BaseModel):
    models: list[dict[str, Any]]
