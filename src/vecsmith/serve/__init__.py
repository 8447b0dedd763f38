"""`vecsmith serve`: word vectors, neighbours and language ID over HTTP.

    $ vecsmith serve cc.en.300.store lid=lid.176.ftz --workers 2

An ASGI app (FastAPI on uvicorn) whose worker processes each map the same model files, so N
workers share one copy in the page cache. Needs the `serve` extra (fastapi, uvicorn).
"""

from vecsmith.serve.limits import Limits

__all__ = ["Limits", "ServeConfig", "create_app"]


def __getattr__(name: str):
    # FastAPI loads only when the app is built, so `import vecsmith.serve` stays light.
    if name in ("ServeConfig", "create_app"):
        from vecsmith.serve import app

        return getattr(app, name)
    raise AttributeError(f"module 'vecsmith.serve' has no attribute {name!r}")
