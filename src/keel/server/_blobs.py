"""REST routes over the content-addressed artifact store: blob uploads and downloads.

Uploads are streamed to a temp file while hashed, never held whole in memory, and refused
when the bytes do not hash to the digest in the URL. When the artifact store is S3, the
client is given presigned URLs and sends or fetches the bytes from the object store itself.
A principal may read a blob only if a run or model version of a project it can read refers
to it; it may upload one if it may write artifacts in some project.

Digests are not secrets, so knowing one proves nothing: a principal may *reference* a blob (attach
it to a run, name it as a model manifest or environment snapshot) only when it can already read
the blob or has just sent its bytes (:func:`may_reference`). For a stored blob it cannot read,
:func:`start_upload` answers "not stored" and no presigned URL, so the client streams the bytes
through the server, which hashes them: that is the proof of possession, remembered for an hour.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Path as PathParam
from fastapi import Request
from fastapi.responses import RedirectResponse, StreamingResponse
from pydantic import BaseModel, Field

from keel.artifacts import S3ArtifactStore
from keel.artifacts.base import CHUNK
from keel.errors import InvalidArgumentError, NotFoundError
from keel.governance import role_allows
from keel.server._context import Ctx, KeelRouter, requires
from keel.server._tracking import receive_to_store

__all__ = ["grant_possession", "may_reference", "require_reference", "router", "stream_blob"]

router = KeelRouter(prefix="/api/v1")

_DIGEST = r"^[0-9a-f]{64}$"
_PRESIGN_SECONDS = 900
_GRANT_SECONDS = 3600.0
_GRANT_LIMIT = 100_000


class UploadIn(BaseModel):
    """A blob the client wants to upload."""

    digest: str = Field(pattern=_DIGEST)
    size: int = Field(ge=0)


def _require_writer(ctx: Ctx) -> None:
    p = ctx.principal
    if p.is_admin or any(role_allows(r, "artifacts.write") for r in p.roles.values()):
        ctx.listing()  # checked: some project lets it write
        return
    ctx.authorize(None, "blob", "", action="artifacts.write")


def _require_reader(ctx: Ctx, digest: str) -> None:
    projects = ctx.state.gov.blob_projects(digest)
    ctx.listing()  # checked below: readable through one of its owners, or refused
    if ctx.principal.is_admin or any(ctx.can(p) for p in projects):
        return
    if not projects:
        raise NotFoundError(
            f"No run or model version you can read refers to blob {digest!r}.",
            details={"digest": digest},
        )
    ctx.authorize(sorted(projects)[0], "blob", digest)


def _grants(ctx: Ctx) -> dict[tuple[str, str], float]:
    grants: dict[tuple[str, str], float] = ctx.state.__dict__.setdefault("upload_grants", {})
    return grants


def grant_possession(ctx: Ctx, digest: str) -> None:
    """Remember that the caller sent the bytes of ``digest`` (so it may reference the blob)."""
    grants = _grants(ctx)
    now = time.monotonic()
    if len(grants) >= _GRANT_LIMIT:  # bound the memory: drop what has expired
        for key in [k for k, until in grants.items() if until <= now]:
            grants.pop(key, None)
    grants[(ctx.principal.name, digest)] = now + _GRANT_SECONDS


def may_reference(ctx: Ctx, digest: str) -> bool:
    """Whether the caller may reference blob ``digest``: it can read it or has sent its bytes."""
    ctx.listing()  # the check is this function
    if ctx.principal.is_admin:
        return True
    until = _grants(ctx).get((ctx.principal.name, digest))
    if until is not None and until > time.monotonic():
        return True
    projects = ctx.state.gov.blob_projects(digest)
    return any(ctx.can(p, "artifacts.read") for p in projects)


def require_reference(ctx: Ctx, digest: str, what: str) -> None:
    """Refuse a reference to a blob the caller neither can read nor has uploaded.

    The message is the same whether or not the blob is stored, so it reveals nothing.

    Raises:
        InvalidArgumentError: The caller has not uploaded the blob (or it is not stored).
    """
    if may_reference(ctx, digest) and ctx.state.artifacts.exists(digest):
        return
    raise InvalidArgumentError(
        f"{what}: blob {digest!r} is not uploaded by you; PUT its bytes to "
        f"/api/v1/blobs/{digest} first (a blob you cannot read must be sent, not named).",
        details={"digest": digest},
    )


def _checksum_header(digest: str) -> dict[str, str]:
    return {"x-amz-checksum-sha256": base64.b64encode(bytes.fromhex(digest)).decode()}


def _presign(ctx: Ctx, digest: str, method: str) -> str | None:
    store = ctx.state.artifacts
    if not isinstance(store, S3ArtifactStore):
        return None
    extra: dict[str, str] = {}
    if method == "put_object":
        # S3 checks the body against this checksum, so a presigned upload cannot store bytes
        # under a digest that is not theirs.
        extra["ChecksumSHA256"] = _checksum_header(digest)["x-amz-checksum-sha256"]
    url: str = store.fs.url(
        store._key(digest), expires=_PRESIGN_SECONDS, client_method=method, **extra
    )
    return url


@router.post("/blobs/uploads")
def start_upload(
    body: UploadIn, ctx: Annotated[Ctx, requires("artifacts.write")]
) -> dict[str, Any]:
    """Say whether a blob is stored already and where to send it (a presigned URL on S3)."""
    _require_writer(ctx)
    if ctx.state.artifacts.exists(body.digest):
        if may_reference(ctx, body.digest):
            return {"exists": True, "url": None, "headers": {}}
        # Stored, but not readable by the caller: it must send the bytes through the server,
        # which hashes them (a presigned upload would not tell us it happened).
        return {"exists": False, "url": None, "headers": {}}
    # Not stored: whoever sends these bytes first holds them (knowing the digest of content
    # that does not exist yet means knowing the content).
    grant_possession(ctx, body.digest)
    url = _presign(ctx, body.digest, "put_object")
    return {
        "exists": False,
        "url": url,
        "headers": _checksum_header(body.digest) if url else {},
    }


@router.put("/blobs/{digest}")
async def upload_blob(
    digest: Annotated[str, PathParam(pattern=_DIGEST)],
    request: Request,
    ctx: Annotated[Ctx, requires("artifacts.write")],
) -> dict[str, Any]:
    """Upload a blob as a streamed ``application/octet-stream`` body, checked against ``digest``."""
    _require_writer(ctx)
    stored, size = await receive_to_store(ctx, request, digest)
    grant_possession(ctx, stored)
    return {"digest": stored, "size": size}


@router.get("/blobs/{digest}")
def download_blob(
    digest: Annotated[str, PathParam(pattern=_DIGEST)],
    ctx: Annotated[Ctx, requires("artifacts.read")],
) -> StreamingResponse | RedirectResponse:
    """Stream a blob (or redirect to a presigned URL on S3); clients verify the digest."""
    _require_reader(ctx, digest)
    url = _presign(ctx, digest, "get_object")
    if url is not None:
        return RedirectResponse(url, status_code=307)
    return stream_blob(ctx, digest)


def stream_blob(ctx: Ctx, digest: str) -> StreamingResponse:
    """Stream a stored blob in chunks, with its digest in ``X-Keel-Digest``."""
    store = ctx.state.artifacts
    size = store.size(digest)  # NotFoundError before any byte is sent
    # Check the bytes before sending any (one extra streamed read): a damaged blob is refused
    # with integrity-error instead of reaching a client that might not verify it.
    if not store.verify(digest):
        raise store._corrupt(digest)
    handle = store._open(digest)

    def chunks() -> Iterator[bytes]:
        with handle as f:
            while chunk := f.read(CHUNK):
                yield chunk

    return StreamingResponse(
        chunks(),
        media_type="application/octet-stream",
        headers={"X-Keel-Digest": digest, "Content-Length": str(size)},
    )
