"""jupyter_client 8: hooks around a kernel's launch.

`AsyncKernelManager.start_kernel` calls its private `_async_pre_start_kernel` and
`_async_launch_kernel` directly (overriding the public `pre_start_kernel` changes nothing), and
papermill calls `start_kernel` with no way to add launch options. A kernel provisioner would
be the public route, but one is chosen by kernelspec name through entry points, not per run.
"""

from __future__ import annotations

from typing import Any

from jupyter_client.manager import AsyncKernelManager

CHECKED = {"jupyter_client": "8.10.0"}


class LaunchHookedKernelManager(AsyncKernelManager):
    """An `AsyncKernelManager` with public hooks: `launch_options` rewrites the keyword
    arguments the kernel is started with (env, cwd, stdout, stderr…); `launch_finished` runs
    once the launch is over, launched or not; `launched` runs after a successful launch."""

    def launch_options(self, kw: dict[str, Any]) -> dict[str, Any]:
        return kw

    def launch_finished(self) -> None:
        """Called whether or not the launch succeeded."""

    def launched(self) -> None:
        """Called after the kernel's process exists."""

    async def _async_pre_start_kernel(self, **kw: Any) -> Any:
        return await super()._async_pre_start_kernel(**self.launch_options(kw))

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        try:
            await super()._async_launch_kernel(kernel_cmd, **kw)
        finally:
            self.launch_finished()
        self.launched()
