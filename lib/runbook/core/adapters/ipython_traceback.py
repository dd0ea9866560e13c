"""IPython 9: see every traceback the kernel shows before it leaves the kernel.

`InteractiveShell._showtraceback(etype, evalue, stb)` is the one place every traceback passes
(a cell's exception, a syntax error, `%tb`), and ipykernel overrides it to send the error
reply. The public `set_custom_exc` sees neither syntax errors nor exception groups, and would
replace a handler the notebook sets itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CHECKED = {"ipython": "9.18.1"}

ShowTraceback = Callable[[Any, Any, Any], Any]


def wrap_traceback_display(shell: Any, wrap: Callable[[ShowTraceback], ShowTraceback]) -> None:
    """`shell` shows each traceback through `wrap(the shell's own display)`."""
    shell._showtraceback = wrap(shell._showtraceback)
