"""A list of coroutines one domain calls and others register with, from the composition root:
how a lower domain lets higher ones act in its transaction without importing them (the domains'
own `hooks` modules name each list and what it is for)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, ParamSpec

P = ParamSpec("P")


class Hooks(Generic[P]):
    def __init__(self) -> None:
        self._hooks: list[Callable[P, Awaitable[None]]] = []

    def add(self, hook: Callable[P, Awaitable[None]]) -> None:
        if hook not in self._hooks:  # registering twice (a second app in one process) is harmless
            self._hooks.append(hook)

    async def run(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Each hook in the order registered; one raising stops the rest (and, in a request, rolls
        the transaction back)."""
        for hook in self._hooks:
            await hook(*args, **kwargs)
