"""The adapters (lib/runbook/core/adapters/) reach into other packages' internals: each was
checked against one version. A new version fails here, loudly, until the adapter has been
re-checked against it and its `CHECKED` updated."""

from __future__ import annotations

import importlib
import re
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
ADAPTERS = ["aiosmtpd_controller", "httpcore_backend", "ipython_traceback",
            "jupyter_client_launch"]


def pinned() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==(\S+)", line)
        if match:
            pins[normal(match[1])] = match[2]
    return pins


def normal(package: str) -> str:
    return re.sub(r"[-_.]+", "-", package).lower()


def adapter(name: str) -> ModuleType:
    return importlib.import_module(f"runbook.core.adapters.{name}")


def test_every_adapter_module_is_checked_here() -> None:
    found = sorted(p.stem for p in (ROOT / "lib/runbook/core/adapters").glob("*.py")
                   if p.stem != "__init__")
    assert found == ADAPTERS


@pytest.mark.parametrize("name", ADAPTERS)
def test_the_adapter_was_checked_against_the_pinned_and_installed_version(name: str) -> None:
    pins = pinned()
    for package, checked in adapter(name).CHECKED.items():
        pin = pins.get(normal(package))
        what = f"lib/runbook/core/adapters/{name}.py uses {package}'s private names"
        assert pin == checked, (
            f"{what}; it was checked against {package} {checked}, but requirements.txt pins "
            f"{pin}: re-check that those names still exist and behave as the "
            "adapter's docstring says (or use a public API the new version offers), then "
            "update CHECKED")
        assert version(package) == checked, (
            f"{what}, checked against {package} {checked}, but {version(package)} is "
            "installed: install requirements.txt, or re-check the adapter against it")


def test_httpx_transport_still_has_its_pool_and_backend() -> None:
    import httpcore
    import httpx

    from runbook.core.adapters.httpcore_backend import use_network_backend

    transport = httpx.HTTPTransport()
    assert isinstance(transport._pool, httpcore.ConnectionPool), \
        "httpx.HTTPTransport no longer keeps its pool in `_pool`: re-check httpcore_backend"
    assert hasattr(transport._pool, "_network_backend"), \
        "httpcore's pool no longer keeps its backend in `_network_backend`"
    backend = httpcore.SyncBackend()
    use_network_backend(transport, backend)
    assert transport._pool._network_backend is backend


def test_ipython_shows_every_traceback_through_showtraceback() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    from runbook.core.adapters.ipython_traceback import wrap_traceback_display

    assert callable(getattr(InteractiveShell, "_showtraceback", None)), \
        "IPython's InteractiveShell has no `_showtraceback`: re-check ipython_traceback"

    class Shell:
        def _showtraceback(self, etype: object, evalue: object, stb: list[str]) -> list[str]:
            return stb

    shell = Shell()
    wrap_traceback_display(shell, lambda show: lambda e, v, stb: show(e, v, [*stb, "seen"]))
    assert shell._showtraceback(ValueError, ValueError(), ["line"]) == ["line", "seen"]


def test_jupyter_client_starts_a_kernel_through_the_two_hooked_steps() -> None:
    import inspect

    from jupyter_client.manager import AsyncKernelManager, KernelManager

    for name in ("_async_pre_start_kernel", "_async_launch_kernel"):
        assert inspect.iscoroutinefunction(getattr(AsyncKernelManager, name, None)), \
            f"jupyter_client's AsyncKernelManager has no async `{name}`: re-check " \
            "jupyter_client_launch"
        assert f"self.{name}(" in inspect.getsource(KernelManager._async_start_kernel), \
            f"jupyter_client's start_kernel no longer calls `{name}`: re-check " \
            "jupyter_client_launch"


def test_aiosmtpd_controller_triggers_its_server() -> None:
    from aiosmtpd.controller import Controller

    assert callable(getattr(Controller, "_trigger_server", None)), \
        "aiosmtpd's Controller has no `_trigger_server`: re-check aiosmtpd_controller"
