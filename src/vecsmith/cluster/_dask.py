"""Dask is optional: import it lazily, check clients, and turn ``--scheduler`` specs into
clients (``local``, ``local:N`` or a scheduler address)."""

from __future__ import annotations

from vecsmith._deps import require

__all__ = ["check_client", "client_for"]


def check_client(client):
    """The ``dask.distributed.Client`` to use, or a TypeError that says what was passed."""
    distributed = require("distributed", "running on a Dask cluster")
    if not isinstance(client, distributed.Client):
        raise TypeError(f"client must be a dask.distributed.Client, got {type(client).__name__}")
    return client


def client_for(spec: str, *, memory_limit: str | None = None):
    """A client for ``local`` (a local cluster, one worker process per core), ``local:N`` (N
    single-threaded worker processes) or a scheduler address such as ``tcp://host:8786``."""
    distributed = require("distributed", "running on a Dask cluster")
    if spec == "local" or spec.startswith("local:"):
        n = spec.partition(":")[2]
        if n and (not n.isdigit() or int(n) < 1):
            raise ValueError(f"--scheduler local:N needs a positive worker count, got {spec!r}")
        kwargs = {"processes": True, "dashboard_address": None}
        if n:
            kwargs.update(n_workers=int(n), threads_per_worker=1)
        if memory_limit:
            kwargs["memory_limit"] = memory_limit
        return distributed.Client(distributed.LocalCluster(**kwargs))
    if "://" not in spec and ":" not in spec:
        raise ValueError(f"scheduler must be local, local:N or an address like "
                         f"tcp://host:8786, got {spec!r}")
    return distributed.Client(spec)
