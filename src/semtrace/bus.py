"""An in-process async event bus whose messages carry trace context (publish/subscribe).

Agents that talk through events (choreography) lose the causal chain in most tracers. Here
each ``publish`` is a PRODUCER span ``send {topic}`` whose context travels in the message
headers; each handler runs in a CONSUMER span ``process {topic}`` that **links** to it (one
link per message, so a batch links to all its producers). The ``messages`` view joins them::

    bus = EventBus(name="invoices")

    @bus.subscribe("invoice.received", agent="extraction")
    async def on_invoice(msg):                  # msg.topic, msg.payload, msg.headers, msg.id
        await bus.publish("invoice.extracted", {...})

    await bus.publish("invoice.received", {"id": 7}, agent="intake")
    await bus.join()                            # every message (and follow-ups) handled

Handlers run one message at a time per subscription, in the order published. A handler that
raises ends its consumer span with an ERROR status and a sentence; the bus keeps going (the
error is kept in ``bus.errors``). Topics may be patterns (``invoice.*``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fnmatch
import inspect
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from opentelemetry.trace import Link, SpanKind

from semtrace import semconv as sc
from semtrace.tracer._context import current_agent
from semtrace.tracer._lifecycle import TRACER
from semtrace.tracer.propagation import consumer_span, creation_context, producer_span

__all__ = ["EventBus", "HandlerError", "Message", "Subscription"]

H = TypeVar("H", bound=Callable[..., Any])
MAX_ERRORS = 1_000


@dataclass(frozen=True)
class Message:
    """One published message: what subscribers receive."""

    topic: str
    payload: Any
    headers: dict[str, str]
    id: str
    agent: str | None = None  # the producing agent
    published_ns: int = field(default_factory=time.time_ns)


@dataclass(frozen=True)
class HandlerError:
    """A handler that raised: which subscription, on which message(s), with what."""

    subscription: str
    messages: tuple[Message, ...]
    exception: BaseException


@dataclass
class Subscription:
    """A handler bound to a topic (or pattern), run by one worker per event loop."""

    topic: str
    handler: Callable[..., Any]
    agent: str | None = None
    batch_size: int = 1
    batch_timeout_s: float = 0.01
    as_parent: bool = False
    name: str = ""
    concurrency: int = 1
    _queue: asyncio.Queue[Message] | None = field(default=None, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _worker: asyncio.Task[None] | None = field(default=None, repr=False)
    _running: set[asyncio.Task[None]] = field(default_factory=set, repr=False)

    def matches(self, topic: str) -> bool:
        if any(ch in self.topic for ch in "*?["):
            return fnmatch.fnmatchcase(topic, self.topic)
        return topic == self.topic


class EventBus:
    """In-process async pub/sub with trace context in every message (see the module doc)."""

    def __init__(self, name: str = "bus", *, system: str = sc.MESSAGING_SYSTEM_SEMTRACE) -> None:
        self.name = name
        self.system = system
        self.subscriptions: list[Subscription] = []
        self.errors: deque[HandlerError] = deque(maxlen=MAX_ERRORS)

    # -- subscribing -------------------------------------------------------------------------
    def subscribe(
        self,
        topic: str,
        handler: Callable[..., Any] | None = None,
        *,
        agent: str | None = None,
        batch_size: int = 1,
        batch_timeout_s: float = 0.01,
        as_parent: bool = False,
        name: str | None = None,
        concurrency: int = 1,
    ) -> Any:
        """Register ``handler`` for ``topic`` (a decorator when ``handler`` is omitted).

        The handler (sync or async) gets a :class:`Message`, or a list of them when
        ``batch_size > 1`` (up to that many, waiting at most ``batch_timeout_s`` for more).
        ``agent`` names the consuming agent (stamped on its spans and logs). ``as_parent=True``
        makes a single message's producer the parent of the consumer span instead of a link.
        ``concurrency`` handlers may run at once (default 1: one at a time, in publish order),
        e.g. when each one waits on a human.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if as_parent and batch_size != 1:
            raise ValueError("as_parent=True needs batch_size=1: a batch has many producers")

        def register(fn: H) -> H:
            if not callable(fn):
                raise TypeError(f"bus.subscribe() needs a callable handler, got {fn!r}")
            self.subscriptions.append(
                Subscription(
                    topic=topic,
                    handler=fn,
                    agent=agent,
                    batch_size=batch_size,
                    batch_timeout_s=batch_timeout_s,
                    as_parent=as_parent,
                    concurrency=concurrency,
                    name=name or str(getattr(fn, "__name__", topic)),
                )
            )
            return fn

        if handler is not None:
            return register(handler)
        return register

    # -- publishing --------------------------------------------------------------------------
    async def publish(
        self,
        topic: str,
        payload: Any = None,
        *,
        agent: str | None = None,
        headers: dict[str, str] | None = None,
        message_id: str | None = None,
    ) -> Message:
        """Publish one message; returns it once every matching subscriber has it queued.

        The PRODUCER span ``send {topic}`` is a child of the current span and is the
        message's creation context, unless ``headers`` already carry a ``traceparent``.
        """
        msg_headers = dict(headers or {})
        user_context = sc.TRACEPARENT in msg_headers
        msg_id = message_id or uuid.uuid4().hex
        agent = agent or current_agent()
        with producer_span(
            topic,
            None if user_context else msg_headers,
            system=self.system,
            message_id=msg_id,
            agent=agent,
            attributes={sc.SEMTRACE_BUS_NAME: self.name},
        ):
            msg = Message(topic, payload, msg_headers, msg_id, agent)
            self._deliver(msg)
        return msg

    async def publish_batch(
        self, topic: str, payloads: Iterable[Any], *, agent: str | None = None
    ) -> list[Message]:
        """Publish several messages at once: a PRODUCER ``create {topic}`` span per message
        (its creation context) and one CLIENT ``send {topic}`` span linking to all of them."""
        agent = agent or current_agent()
        messages: list[Message] = []
        for payload in payloads:
            msg_headers: dict[str, str] = {}
            msg_id = uuid.uuid4().hex
            with producer_span(
                topic,
                msg_headers,
                system=self.system,
                message_id=msg_id,
                agent=agent,
                operation="create",
                attributes={sc.SEMTRACE_BUS_NAME: self.name},
            ):
                messages.append(Message(topic, payload, msg_headers, msg_id, agent))
        links = [
            Link(ctx, {sc.MESSAGING_MESSAGE_ID: m.id})
            for m in messages
            if (ctx := creation_context(m.headers)) is not None
        ]
        attrs: dict[str, Any] = {
            sc.MESSAGING_SYSTEM: self.system,
            sc.MESSAGING_OPERATION_NAME: "send",
            sc.MESSAGING_OPERATION_TYPE: "send",
            sc.MESSAGING_DESTINATION_NAME: topic,
            sc.MESSAGING_BATCH_MESSAGE_COUNT: len(messages),
            sc.SEMTRACE_BUS_NAME: self.name,
        }
        if agent is not None:
            attrs[sc.SEMTRACE_AGENT_NAME] = agent
        # The batch span only groups the per-message PRODUCER spans: nothing runs inside it.
        span = TRACER.start_span(
            f"send {topic}", kind=SpanKind.CLIENT, attributes=attrs, links=links
        )
        try:
            for msg in messages:
                self._deliver(msg)
        finally:
            span.end()
        return messages

    def _deliver(self, msg: Message) -> None:
        for sub in self.subscriptions:
            if sub.matches(msg.topic):
                self._queue_for(sub).put_nowait(msg)

    def _queue_for(self, sub: Subscription) -> asyncio.Queue[Message]:
        loop = asyncio.get_running_loop()
        if sub._queue is None or sub._loop is not loop:
            sub._queue = asyncio.Queue()
            sub._loop = loop
            # The worker starts from an empty context: a consumer span's parent must never be
            # whichever producer happened to start the worker.
            sub._worker = loop.create_task(
                self._work(sub, sub._queue),
                name=f"semtrace-bus-{self.name}-{sub.name}",
                context=contextvars.Context(),
            )
        return sub._queue

    # -- consuming ---------------------------------------------------------------------------
    async def _work(self, sub: Subscription, queue: asyncio.Queue[Message]) -> None:
        slots = asyncio.Semaphore(sub.concurrency)
        while True:
            first = await queue.get()
            batch = [first]
            if sub.batch_size > 1:
                deadline = time.monotonic() + sub.batch_timeout_s
                while len(batch) < sub.batch_size:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 and queue.empty():
                        break
                    try:
                        batch.append(await asyncio.wait_for(queue.get(), max(remaining, 0)))
                    except TimeoutError:
                        break
            if sub.concurrency == 1:
                await self._handle_and_ack(sub, batch, queue)
                continue
            await slots.acquire()
            task = asyncio.create_task(self._handle_and_ack(sub, batch, queue, slots))
            sub._running.add(task)
            task.add_done_callback(sub._running.discard)

    async def _handle_and_ack(
        self,
        sub: Subscription,
        batch: list[Message],
        queue: asyncio.Queue[Message],
        slots: asyncio.Semaphore | None = None,
    ) -> None:
        try:
            await self._handle(sub, batch)
        finally:
            for _ in batch:
                queue.task_done()
            if slots is not None:
                slots.release()

    async def _handle(self, sub: Subscription, batch: list[Message]) -> None:
        topic = batch[0].topic
        extra = {sc.SEMTRACE_BUS_NAME: self.name}
        if sub.batch_size > 1:
            span_cm = consumer_span(
                topic,
                batch=[m.headers for m in batch],
                message_ids=[m.id for m in batch],
                system=self.system,
                agent=sub.agent,
                consumer_group=sub.name,
                attributes=extra,
            )
            arg: Any = batch
        else:
            span_cm = consumer_span(
                topic,
                batch[0].headers,
                message_id=batch[0].id,
                system=self.system,
                agent=sub.agent,
                consumer_group=sub.name,
                as_parent=sub.as_parent,
                attributes=extra,
            )
            arg = batch[0]
        try:
            with span_cm:
                result = sub.handler(arg)
                if inspect.isawaitable(result):
                    await _await(result)
        except Exception as exc:  # the span has the failure; the bus keeps delivering
            self.errors.append(HandlerError(sub.name, tuple(batch), exc))

    async def join(self) -> None:
        """Wait until every published message, including those published by handlers while
        handling others, has been handled."""
        while True:
            pending = [
                s._queue
                for s in self.subscriptions
                if s._queue is not None
                and s._loop is asyncio.get_running_loop()
                and s._queue._unfinished_tasks  # type: ignore[attr-defined]
            ]
            if not pending:
                return
            for queue in pending:
                await queue.join()

    async def close(self) -> None:
        """Stop the workers (messages still queued are dropped)."""
        workers = [s._worker for s in self.subscriptions if s._worker is not None]
        workers += [t for s in self.subscriptions for t in s._running]
        for w in workers:
            w.cancel()
        for w in workers:
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await w
        for s in self.subscriptions:
            s._queue = s._loop = s._worker = None


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
