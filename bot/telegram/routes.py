"""Decorator-style handler tables that build a fresh `Router` per dispatcher.

aiogram attaches a Router to one parent for life, while tests, the demo and scale-out run several
dispatchers in one process. Feature modules declare handlers on a `Routes` table with the usual
decorators; `create_dispatcher` asks each table for a new Router.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from aiogram import Router

Handler = TypeVar("Handler", bound=Callable[..., Any])


class Routes:
    def __init__(self, name: str) -> None:
        self.name = name
        self._entries: list[tuple[str, Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []

    def _register(
        self, observer: str, filters: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Callable[[Handler], Handler]:
        def decorator(handler: Handler) -> Handler:
            self._entries.append((observer, handler, filters, kwargs))
            return handler

        return decorator

    def message(self, *filters: Any, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self._register("message", filters, kwargs)

    def callback_query(self, *filters: Any, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self._register("callback_query", filters, kwargs)

    def pre_checkout_query(self, *filters: Any, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self._register("pre_checkout_query", filters, kwargs)

    def errors(self, *filters: Any, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self._register("error", filters, kwargs)

    def build(self) -> Router:
        router = Router(name=self.name)
        for observer, handler, filters, kwargs in self._entries:
            router.observers[observer].register(handler, *filters, **kwargs)
        return router
