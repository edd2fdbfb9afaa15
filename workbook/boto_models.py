"""botocore's service models, parsed once per process.

Each new boto3.Session has its own botocore loader, and a loader parses a service's JSON model the first
time one of its clients is made (ec2's model alone is megabytes): about 0.2 s per service per session. A
notebook, a test or a drill makes a session per context, so the same files were parsed again and again
(a third of the unit tests' time). One loader shared by every session keeps botocore's own cache
(`instance_cache` on the loader) for the whole process; the models are read-only data.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3
import botocore.loaders
import botocore.session

_LOADER = botocore.loaders.create_loader()


def _botocore_session() -> botocore.session.Session:
    s = botocore.session.get_session()
    s.register_component("data_loader", _LOADER)
    return s


def session(**kwargs: Any) -> boto3.Session:
    """boto3.Session(**kwargs) on the shared loader."""
    s = boto3.Session(botocore_session=_botocore_session(), **kwargs)
    # boto3 appends its own data folder to the loader's search path once per session: keep one of each
    # (in place, order kept, so a lookup running in another thread sees the same prefix).
    paths = _LOADER.search_paths
    paths[:] = list(dict.fromkeys(paths))
    return s


@lru_cache(maxsize=1)
def _models() -> botocore.session.Session:
    return _botocore_session()


def service_model(service: str) -> Any:
    return _models().get_service_model(service)


def waiter_model(service: str) -> Any:
    return _models().get_waiter_model(service)


def data(name: str) -> Any:
    """botocore's other data files (e.g. "endpoints")."""
    return _models().get_data(name)
