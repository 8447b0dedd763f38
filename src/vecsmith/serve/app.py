"""The ASGI app: FastAPI routes over `ServedModel`, limits as middleware, one error shape.

`create_app(config)` builds it; `app_from_env()` is the factory each uvicorn worker process
calls (config as JSON in `VECSMITH_SERVE_CONFIG`), so every worker opens the model files
itself after it starts and the page cache holds one copy of them for all workers.

Small requests are answered on the event loop; larger ones run in the thread pool, so the
loop keeps accepting (and refusing with 503 above the concurrency limit) while they compute.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from vecsmith._deps import require

try:
    import orjson
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, Response
    from fastapi_offline import FastAPIOffline
    from pydantic import BaseModel, Field
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
except ImportError as exc:  # the `serve` extra is missing: say so by name, not a bare import
    require(exc.name or "fastapi", "vecsmith serve")
    raise

from vecsmith.serve.limits import AccessLog, BodyLimit, ConcurrencyLimit, Limits
from vecsmith.serve.models import (
    CannotPredict,
    ModelFileChanged,
    NotInVocabulary,
    ServedModel,
    open_model,
)
from vecsmith.serve.page import PAGE

ENV_CONFIG = "VECSMITH_SERVE_CONFIG"
# Requests touching up to this many values (words x dim, rows x dim for a search, characters
# x dim for texts) run on the event loop; about a millisecond of work.
INLINE_WORK = 1 << 18
log = logging.getLogger("vecsmith.serve")


@dataclass
class ServeConfig:
    models: list[tuple[str, str]]                    # (name, path)
    limits: Limits = field(default_factory=Limits)
    quiet: bool = False
    cors_origins: list[str] = field(default_factory=list)  # empty: CORS off
    warm: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        raw = json.loads(text)
        return cls(models=[tuple(m) for m in raw["models"]], limits=Limits(**raw["limits"]),
                   quiet=raw["quiet"], cors_origins=raw["cors_origins"], warm=raw["warm"])


class ApiError(Exception):
    """A request the server refuses: status, error type and a message saying what was wrong."""

    def __init__(self, status: int, kind: str, message: str):
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


# -- request bodies ------------------------------------------------------------------------
class EmbeddingsRequest(BaseModel):
    model: str
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    user: str | None = None


class VectorsRequest(BaseModel):
    model: str
    words: list[str]
    format: Literal["json", "float32", "float16"] = Field(
        "json", description="json, or a binary little-endian (n, dim) matrix; the OOV flags "
                            "then come in the X-Vecsmith-OOV header as '0'/'1' per word")


class SimilarRequest(BaseModel):
    model: str
    word: str | None = None
    vector: list[float] | None = None
    k: int = 10
    restrict: int | None = Field(None, description="only the N most frequent words")


class AnalogyRequest(BaseModel):
    model: str
    a: str = Field(..., description="a - b + c, e.g. king")
    b: str = Field(..., description="e.g. man")
    c: str = Field(..., description="e.g. woman")
    k: int = 10


class PredictRequest(BaseModel):
    model: str
    texts: list[str]
    k: int = 1
    threshold: float = 0.0


# -- helpers -------------------------------------------------------------------------------
def _json(obj, status: int = 200) -> Response:
    """orjson writes float32 arrays as the shortest decimal that reads back into the same
    float32 (bit-identical vectors), ~15x faster than json.dumps of `tolist()`. Words that are
    not valid UTF-8 (kept as lone surrogates) take the stdlib path, which escapes them."""
    try:
        body = orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)
    except orjson.JSONEncodeError:
        body = json.dumps(obj, default=_plain, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type="application/json")


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _finite(vectors: np.ndarray) -> np.ndarray:
    """JSON has no inf/NaN (orjson would write null): a model that gives them is broken."""
    if not np.all(np.isfinite(vectors)):
        raise ApiError(500, "internal_error", "the model gave non-finite values (inf or NaN); "
                                              "its file may be corrupt")
    return vectors


def _neighbours(pairs) -> list[dict]:
    return [{"word": w, "score": s} for w, s in pairs]


class Checks:
    """Per-request limits, with messages that name the field."""

    def __init__(self, limits: Limits):
        self.limits = limits

    def texts(self, name: str, items: list[str]) -> list[str]:
        lim = self.limits
        if len(items) > lim.max_batch:
            raise ApiError(422, "invalid_request_error", f"'{name}' has {len(items)} items; "
                           f"the limit is {lim.max_batch} per request")
        for i, s in enumerate(items):
            self.text(f"{name}[{i}]", s)
        return items

    def text(self, name: str, s: str) -> str:
        if len(s) > self.limits.max_text_chars:
            raise ApiError(422, "invalid_request_error", f"'{name}' has {len(s)} characters; "
                           f"the limit is {self.limits.max_text_chars}")
        if "\0" in s:
            raise ApiError(422, "invalid_request_error", f"'{name}' contains a NUL character")
        try:
            s.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise ApiError(422, "invalid_request_error",
                           f"'{name}' is not valid Unicode (lone surrogate)") from None
        return s

    def k(self, k: int, name: str = "k") -> int:
        if not 1 <= k <= self.limits.max_k:
            raise ApiError(422, "invalid_request_error",
                           f"'{name}' must be between 1 and {self.limits.max_k}, got {k}")
        return k


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"'{loc}': {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


# -- the app -------------------------------------------------------------------------------
def create_app(config: ServeConfig) -> FastAPI:
    """Open the models and build the app (each worker process calls this once)."""
    models: dict[str, ServedModel] = {}
    for name, path in config.models:
        if name in models:
            raise ValueError(f"two models are named {name!r}; name them with NAME=PATH")
        models[name] = open_model(name, path)
        if config.warm:
            models[name].warm()
        models[name].prepare()
    limits = config.limits
    check = Checks(limits)

    # FastAPI's own /docs loads Swagger UI from a CDN (a blank page offline or behind a
    # firewall): fastapi-offline serves the same assets from its package, under /static-docs
    app = FastAPIOffline(title="vecsmith serve", static_url="/static-docs",
                         description="Word vectors, neighbours and language ID over HTTP.",
                         version="1")

    def get_model(name: str) -> ServedModel:
        try:
            m = models[name]
        except KeyError:
            raise ApiError(404, "model_not_found", f"no model named {name!r}; this server has "
                           f"{sorted(models)}") from None
        m.check_file()
        return m

    # -- errors: every refusal is {"error": {"type", "message"}} -----------------------------
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return _json({"error": {"type": exc.kind, "message": exc.message}}, exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        message = _validation_message(exc)
        ctype = request.headers.get("content-type", "")
        if request.method == "POST" and not ctype.startswith("application/json"):
            message = ("the body must be a JSON object sent with Content-Type: "
                       f"application/json (got {ctype or 'no Content-Type'})")
        return _json({"error": {"type": "invalid_request_error", "message": message}}, 422)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException):
        return _json({"error": {"type": "http_error", "message": str(exc.detail)}},
                     exc.status_code)

    @app.exception_handler(ModelFileChanged)
    async def _changed(request: Request, exc: ModelFileChanged):
        log.error("%s", exc)
        return _json({"error": {"type": "model_file_changed", "message": str(exc)}}, 500)

    @app.exception_handler(NotInVocabulary)
    async def _oov(request: Request, exc: NotInVocabulary):
        return _json({"error": {"type": "not_in_vocabulary", "message": exc.args[0]}}, 422)

    @app.exception_handler(CannotPredict)
    async def _cannot(request: Request, exc: CannotPredict):
        return _json({"error": {"type": "invalid_request_error", "message": str(exc)}}, 400)

    @app.exception_handler(ValueError)
    async def _value(request: Request, exc: ValueError):
        return _json({"error": {"type": "invalid_request_error", "message": str(exc)}}, 422)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        log.exception("internal error on %s", request.url.path)
        return _json({"error": {"type": "internal_error",
                                "message": f"internal error: {type(exc).__name__}"}}, 500)

    async def answer(m: ServedModel, compute, work: int):
        """Compute, then check the file again (a file rewritten during the computation may
        have been read half old, half new). Small work (`work`: about the values or
        characters touched) runs right here on the event loop: handing it to a thread costs
        more than doing it. Larger work goes to the thread pool, so the loop keeps answering
        (and refusing past the concurrency limit) meanwhile."""
        out = compute() if work <= INLINE_WORK else await run_in_threadpool(compute)
        m.check_file()
        return out

    # -- routes ------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def page():
        return HTMLResponse(PAGE)

    @app.get("/health", summary="Liveness: 200 while every model file is the one opened")
    async def health():
        for m in models.values():
            try:
                m.check_file()
            except ModelFileChanged as e:
                return _json({"status": "model_file_changed", "message": str(e),
                              "pid": os.getpid()}, 503)
        return _json({"status": "ok", "models": len(models), "pid": os.getpid()})

    @app.get("/models", summary="Served models: name, kind, dim, vocabulary size, predicts")
    async def list_models():
        return _json({"models": [m.describe() for m in models.values()],
                      "limits": limits.as_dict()})

    @app.post("/v1/embeddings", summary="OpenAI-compatible embeddings: a word gets its word "
                                        "vector, a text its fastText sentence vector")
    async def embeddings(req: EmbeddingsRequest):
        m = get_model(req.model)
        inputs = [req.input] if isinstance(req.input, str) else req.input
        if not inputs or not all(isinstance(x, str) for x in inputs):
            raise ApiError(422, "invalid_request_error",
                           "'input' must be a string or a non-empty list of strings (token "
                           "arrays are not supported: send text)")
        check.texts("input", inputs)
        if req.dimensions is not None and req.dimensions != m.dim:
            raise ApiError(422, "invalid_request_error",
                           f"'dimensions' must be {m.dim} for model {m.name!r} (vectors are "
                           "not truncated)")
        vecs = _finite(await answer(m, lambda: np.stack([m.embedding(t) for t in inputs]),
                                    sum(map(len, inputs)) * m.dim))
        data = []
        for i, v in enumerate(vecs):
            emb = (base64.b64encode(np.asarray(v, "<f4").tobytes()).decode()
                   if req.encoding_format == "base64" else v)
            data.append({"object": "embedding", "index": i, "embedding": emb})
        tokens = sum(len(t.split()) for t in inputs)
        return _json({"object": "list", "data": data, "model": m.name,
                      "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    @app.post("/vectors", summary="Word vectors with an OOV flag per word (JSON or binary)")
    async def vectors(req: VectorsRequest):
        m = get_model(req.model)
        words = check.texts("words", req.words)
        vecs, oov = await answer(m, lambda: m.vectors(words), len(words) * m.dim)
        _finite(vecs)
        if req.format != "json":
            dtype = "<f4" if req.format == "float32" else "<f2"
            flags = "".join("1" if o else "0" for o in oov)
            return Response(np.ascontiguousarray(vecs, dtype).tobytes(),
                            media_type="application/octet-stream",
                            headers={"X-Vecsmith-Shape": f"{len(words)},{m.dim}",
                                     "X-Vecsmith-Dtype": req.format,
                                     "X-Vecsmith-OOV": flags})
        return _json({"model": m.name, "dim": m.dim, "vectors": vecs, "oov": oov.tolist()})

    @app.post("/similar", summary="Nearest neighbours of a word (known or not) or a vector")
    async def similar(req: SimilarRequest):
        m = get_model(req.model)
        if (req.word is None) == (req.vector is None):
            raise ApiError(422, "invalid_request_error", "give exactly one of 'word' and "
                                                         "'vector'")
        k = check.k(req.k)
        if req.restrict is not None and req.restrict < 1:
            raise ApiError(422, "invalid_request_error",
                           f"'restrict' must be at least 1, got {req.restrict}")
        vector = None
        if req.vector is not None:
            if len(req.vector) != m.dim:
                raise ApiError(422, "invalid_request_error", f"'vector' has {len(req.vector)} "
                               f"values; model {m.name!r} has dim {m.dim}")
            vector = np.asarray(req.vector, dtype=np.float32)
            if not np.all(np.isfinite(vector)):
                raise ApiError(422, "invalid_request_error",
                               "'vector' holds values that are not finite in float32")
        if req.word is not None:
            check.text("word", req.word)
        pairs = await answer(m, lambda: m.similar(req.word, vector, k, req.restrict),
                             min(req.restrict or m.nwords, m.nwords) * m.dim)
        out = {"model": m.name, "neighbours": _neighbours(pairs)}
        if req.word is not None:
            out["oov"] = bool(m.word_ids([req.word])[0] < 0)
        return _json(out)

    @app.post("/analogy", summary="Words closest to a - b + c (king - man + woman)")
    async def analogy(req: AnalogyRequest):
        m = get_model(req.model)
        for name in ("a", "b", "c"):
            check.text(name, getattr(req, name))
        k = check.k(req.k)
        pairs = await answer(m, lambda: m.analogy(req.a, req.b, req.c, k), m.nwords * m.dim)
        return _json({"model": m.name, "neighbours": _neighbours(pairs)})

    @app.post("/predict", summary="Labels with probabilities per text (supervised models, "
                                  "e.g. lid.176.ftz)")
    async def predict(req: PredictRequest):
        m = get_model(req.model)
        texts = check.texts("texts", req.texts)
        for i, t in enumerate(texts):
            if "\n" in t or "\r" in t:
                raise ApiError(422, "invalid_request_error",
                               f"'texts[{i}]' holds a line break: send one line per text")
        k = check.k(req.k)
        if not 0.0 <= req.threshold <= 1.0:
            raise ApiError(422, "invalid_request_error",
                           f"'threshold' must be between 0 and 1, got {req.threshold}")
        if not m.predicts:
            raise CannotPredict(f"model {m.name!r} is not a supervised model: it has no "
                                "labels to predict")
        preds = await answer(m, lambda: m.predict(texts, k, req.threshold),
                             sum(map(len, texts)) * m.dim)
        return _json({"model": m.name, "predictions": [
            [{"label": lab, "probability": p} for lab, p in row] for row in preds]})

    # Middleware: the last added is the outermost. Log everything, then refuse big bodies,
    # then refuse past the concurrency limit.
    if config.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=config.cors_origins,
                           allow_methods=["GET", "POST"], allow_headers=["*"],
                           expose_headers=["X-Vecsmith-Shape", "X-Vecsmith-Dtype",
                                           "X-Vecsmith-OOV"])
    app.add_middleware(ConcurrencyLimit, limit=limits.max_concurrency,
                       retry_after_s=limits.retry_after_s)
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    app.add_middleware(AccessLog)
    app.state.models = models
    return app


def configure_logging(quiet: bool) -> None:
    """Access lines (JSON) on stderr unless quiet; errors always."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access = logging.getLogger("vecsmith.serve.access")
    access.handlers[:] = [handler]
    access.propagate = False
    access.setLevel(logging.WARNING if quiet else logging.INFO)
    errors = logging.getLogger("vecsmith.serve")
    if not errors.handlers:
        err = logging.StreamHandler(sys.stderr)
        err.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        errors.addHandler(err)
    errors.setLevel(logging.INFO)


def app_from_env() -> FastAPI:
    """The factory uvicorn calls in each worker: config from `VECSMITH_SERVE_CONFIG`."""
    text = os.environ.get(ENV_CONFIG)
    if not text:
        raise RuntimeError(f"{ENV_CONFIG} is not set: start the server with `vecsmith serve`")
    config = ServeConfig.from_json(text)
    configure_logging(config.quiet)
    return create_app(config)
