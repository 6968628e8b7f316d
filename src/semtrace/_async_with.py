"""``async with`` for context managers whose sync ``__enter__`` / ``__exit__`` never block."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Protocol, TypeVar

__all__ = ["AsyncWithFromSync"]


class _SyncContextManager(Protocol):
    def __enter__(self) -> Any: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any: ...


_CM = TypeVar("_CM", bound=_SyncContextManager)


class AsyncWithFromSync:
    """Mixin: ``async with obj`` does exactly what ``with obj`` does (the class's own
    ``__enter__`` / ``__exit__``), for objects usable in both kinds of code."""

    __slots__ = ()

    async def __aenter__(self: _CM) -> _CM:
        return self.__enter__()

    async def __aexit__(
        self: _CM,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)
