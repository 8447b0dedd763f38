"""The `serve` verb: word vectors, neighbours and language ID over HTTP (`vecsmith.serve`)."""

from __future__ import annotations

import importlib.util
import os

import typer

from vecsmith.cli._app import app


@app.command()
def serve(
    models: list[str] = typer.Argument(..., metavar="MODEL...",
                                       help="Stores or fastText .bin/.ftz files, as PATH "
                                            "(named after the file stem) or NAME=PATH."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0: all)."),
    port: int = typer.Option(8000, min=0, max=65535),
    workers: int = typer.Option(1, min=1, help="Worker processes; each maps the same files."),
    max_batch: int = typer.Option(1024, min=1, help="Words, texts or inputs per request."),
    max_k: int = typer.Option(1000, min=1, help="Largest k for /similar, /analogy, /predict."),
    max_body: int = typer.Option(4 << 20, min=1, help="Largest request body, in bytes."),
    max_text: int = typer.Option(10_000, min=1, help="Longest word or text, in characters."),
    max_concurrency: int = typer.Option(64, min=1, help="Requests in flight per worker; "
                                                        "more are answered 503."),
    cors_origin: list[str] = typer.Option([], "--cors-origin",
                                          help="Allow browser calls from this origin "
                                               "(repeatable; CORS is off without it)."),
    warm: bool = typer.Option(False, "--warm", help="Read the model files into memory at "
                                                    "start (needs their size free)."),
    graceful_timeout: int = typer.Option(10, min=0, help="Seconds to finish requests in "
                                                         "flight on SIGTERM/Ctrl-C."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No access log."),
):
    """Serve models over HTTP: /v1/embeddings (OpenAI), /vectors, /similar, /analogy, /predict,
    a page to try them at /, the API at /docs.

    Example: vecsmith serve cc.en.300.store lid=lid.176.ftz --workers 2
    """
    from vecsmith.cli._common import fail

    if any(importlib.util.find_spec(m) is None for m in ("uvicorn", "fastapi", "fastapi_offline")):
        raise fail("serving needs fastapi, fastapi-offline and uvicorn: "
                   "pip install 'vecsmith[serve]'")
    from vecsmith.serve.app import ENV_CONFIG, ServeConfig
    from vecsmith.serve.limits import Limits
    from vecsmith.serve.models import model_name, open_model

    try:
        named = [model_name(spec) for spec in models]
    except ValueError as e:
        raise fail(str(e)) from None
    for _, path in named:
        if os.path.isdir(path):
            raise fail(f"model {path} is a folder, expected a model file")
        if not os.path.isfile(path):
            raise fail(f"no such model file: {path}")
    names = [n for n, _ in named]
    if len(set(names)) < len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise fail(f"two models are named {twice}: name them with NAME=PATH")
    config = ServeConfig(models=[(n, os.path.abspath(p)) for n, p in named],
                         limits=Limits(max_batch=max_batch, max_k=max_k,
                                       max_body_bytes=max_body, max_text_chars=max_text,
                                       max_concurrency=max_concurrency),
                         quiet=quiet, cors_origins=list(cors_origin), warm=warm)
    try:  # open each file once here (then let it go), so a bad one fails now with its reason
        for name, path in config.models:
            open_model(name, path)
    except Exception as e:  # any reader error is reported, then exit
        raise fail(f"cannot serve {name}={path}: {e}") from None
    os.environ[ENV_CONFIG] = config.to_json()

    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    # Every worker, even a single one, runs under uvicorn's supervisor process, which starts
    # a new worker when one dies (a SIGBUS from a file truncated under its map, the OOM
    # killer): the server keeps answering instead of exiting with its only worker.
    uconfig = uvicorn.Config("vecsmith.serve.app:app_from_env", factory=True, host=host,
                             port=port, workers=workers, access_log=False,
                             log_level="warning" if quiet else "info",
                             timeout_graceful_shutdown=graceful_timeout, server_header=False)
    supervisor = Multiprocess(uconfig, sockets=[uconfig.bind_socket()])
    supervisor.run()
    if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
        raise typer.Exit(STARTUP_FAILURE)  # a worker could not start: uvicorn.run's status
