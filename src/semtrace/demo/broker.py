"""Scenario 3, broker: one agent routes each request by its content to a specialist.

Customer requests arrive on an event bus; the broker reads each one, decides which specialist
should handle it (refunds, itinerary changes or contract questions) and forwards it on that
specialist's topic. Every hop is a message, so the trace shows inbox -> broker -> specialist
with a link at each hop.

The contracts specialist uses a large model that the provider rate-limits (HTTP 429) during
a traffic spike. Its LLM call is wrapped in ``@semtrace.heal``: the runtime retries with
backoff, and when the provider keeps refusing, switches to the fallback model. Every attempt
is recorded (``heal_attempts`` table), so you can see what was tried and what worked, and
how long recovery took; and heal ranks by that record, so the next refusal of the same kind
goes to the fallback model first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import semtrace
from semtrace.bus import EventBus
from semtrace.demo._sim import Pace, rng_for
from semtrace.demo.llm_sim import SimulatedLLM
from semtrace.diagnose import HealPolicy

__all__ = [
    "FALLBACK_MODEL",
    "PRIMARY_MODEL",
    "SERVICE",
    "Request",
    "SupportDesk",
    "contracts_policy",
    "handle_requests",
    "make_requests",
    "route",
]

SERVICE = "customer-support"  # the service name this application runs under
PRIMARY_MODEL = "claude-sonnet-4"
FALLBACK_MODEL = "claude-haiku-4-5"

broker_log = semtrace.get_logger(agent="broker")
contracts_log = semtrace.get_logger(agent="contracts_agent")

# What the broker routes on: words in the request -> the specialist's topic.
ROUTES: dict[str, tuple[str, ...]] = {
    "refunds": ("refund", "charged", "cancel", "money back"),
    "itinerary": ("change", "reschedule", "date", "seat", "later flight"),
    "contracts": ("contract", "liability", "clause", "terms", "sla"),
}
SAMPLES: dict[str, list[str]] = {
    "refunds": [
        "I was charged twice for booking {ref}, please refund one payment.",
        "My flight {ref} was cancelled by the airline; I want my money back.",
    ],
    "itinerary": [
        "Can you change my return date on {ref} to two days later?",
        "Please move {ref} to a later flight and keep my aisle seat.",
    ],
    "contracts": [
        "Our corporate contract says liability is capped; does clause 7 cover {ref}?",
        "Which SLA terms apply to the outage that delayed {ref}?",
    ],
}


@dataclass(frozen=True)
class Request:
    """A customer request as the support inbox receives it."""

    request_id: str
    customer: str
    text: str


def contracts_policy(pace: Pace) -> HealPolicy:
    """How the contracts agent recovers from a failing model call: retry with backoff while
    the answer can still arrive in time, then switch to the fallback model.

    With real time this reads ``@semtrace.heal(allow=["retry_with_backoff", "fallback_model"],
    max_attempts=4, budget_s=60, max_backoff_s=20, fallbacks={"model": {"model":
    FALLBACK_MODEL}})`` on the method; the demo builds the policy at run time only to scale
    its waits to the simulated clock.
    """
    scale = pace.scale or 0.0005
    return HealPolicy(
        allow=["retry_with_backoff", "fallback_model"],
        max_attempts=4,
        # The customer may wait a minute for recovery: two backoffs of 20 s fit, a third
        # would not, so the third attempt uses the fallback model.
        budget_s=60 * scale,
        max_backoff_s=20 * scale,
        fallbacks={"model": {"model": FALLBACK_MODEL}},  # call again with model=...
        name="review_contract",
    )


def make_requests(seed: int, batch: int, count: int) -> list[Request]:
    """``count`` requests for one batch, drawn from the seed; topics rotate so a batch of
    three or more always reaches every specialist."""
    requests: list[Request] = []
    topics = list(SAMPLES)
    for i in range(count):
        rng = rng_for(seed, "request", batch, i)
        topic = topics[i % len(topics)] if i < len(topics) else rng.choice(topics)
        text = rng.choice(SAMPLES[topic]).format(ref=f"BK-{rng.randint(10_000, 99_999)}")
        requests.append(
            Request(f"REQ-{batch + 1:03d}-{i + 1:02d}", f"customer-{rng.randint(100, 999)}", text)
        )
    return requests


def route(text: str) -> str:
    """The specialist for a request, by the words in it (refunds when nothing matches)."""
    lowered = text.lower()
    scores = {topic: sum(word in lowered for word in words) for topic, words in ROUTES.items()}
    best = max(scores, key=lambda topic: scores[topic])
    return best if scores[best] else "refunds"


class SupportDesk:
    """The broker and its specialists, wired to one event bus."""

    def __init__(self, llm: SimulatedLLM, pace: Pace, seed: int) -> None:
        self.llm = llm
        self.pace = pace
        self.seed = seed
        self.bus = EventBus(name="support")
        self.bus.subscribe("request.received", agent="broker")(self.broker)
        self.bus.subscribe("request.refunds", agent="refunds_agent")(self.refunds_agent)
        self.bus.subscribe("request.itinerary", agent="itinerary_agent")(self.itinerary_agent)
        self.bus.subscribe("request.contracts", agent="contracts_agent")(self.contracts_agent)
        self.bus.subscribe("request.answered", agent="support_inbox")(self.reply_to_customer)
        # The contracts model call heals itself: see contracts_policy().
        self.review_contract = semtrace.heal(
            self.ask_contracts_model, policy=contracts_policy(pace)
        )

    async def submit(self, request: Request) -> None:
        """What the support inbox does with each new request, waiting until it is answered."""
        await self.bus.publish("request.received", asdict(request), agent="support_inbox")
        await self.bus.join()

    async def reply_to_customer(self, msg: Any) -> None:
        await self.send_reply(msg.payload["request"])

    @semtrace.tool("send_reply", description="Email API: answer the customer")
    async def send_reply(self, request_id: str) -> str:
        await self.pace.asleep(rng_for(self.seed, "reply", request_id).uniform(0.1, 0.3))
        return f"sent:{request_id}"

    # -- the broker --------------------------------------------------------------------------
    async def broker(self, msg: Any) -> None:
        request = Request(**msg.payload)
        topic = route(request.text)
        # A cheap model confirms the keyword routing (and would catch what keywords miss).
        await self.llm.achat(
            "gpt-4o-mini",
            f"Which team should handle this request: refunds, itinerary or contracts? "
            f"{request.text!r}",
            reply=topic,
        )
        broker_log.info("routed request", request=request.request_id, to=topic)
        await self.bus.publish(f"request.{topic}", asdict(request), agent="broker")

    # -- the specialists ---------------------------------------------------------------------
    async def refunds_agent(self, msg: Any) -> None:
        request = Request(**msg.payload)
        await self.llm.achat(
            "gpt-4o-mini",
            f"Draft a refund decision: {request.text}",
            reply="Refund approved for the duplicate charge.",
        )
        await self.issue_refund(request.request_id)
        await self.bus.publish(
            "request.answered", {"request": request.request_id}, agent="refunds_agent"
        )

    async def itinerary_agent(self, msg: Any) -> None:
        request = Request(**msg.payload)
        await self.llm.achat(
            "gpt-4o",
            f"Find a rebooking option: {request.text}",
            reply="Rebooked on the 18:40 flight, aisle seat kept.",
        )
        await self.bus.publish(
            "request.answered", {"request": request.request_id}, agent="itinerary_agent"
        )

    async def contracts_agent(self, msg: Any) -> None:
        request = Request(**msg.payload)
        answer = await self.review_contract(request.text)
        contracts_log.info(
            "contract question answered", request=request.request_id, model=answer["model"]
        )
        await self.bus.publish(
            "request.answered", {"request": request.request_id}, agent="contracts_agent"
        )

    async def ask_contracts_model(
        self, question: str, model: str = PRIMARY_MODEL
    ) -> dict[str, Any]:
        """Answer a contract question with the large model (or the model heal falls back to)."""
        return await self.llm.achat(
            model,
            f"Answer from the customer's corporate contract: {question}",
            system="You are a contracts specialist. Quote the clause you rely on.",
            reply="Clause 7.2 caps liability at the booking value; the delay is covered.",
        )

    @semtrace.tool("issue_refund", description="Payments API: refund a charge")
    async def issue_refund(self, request_id: str) -> str:
        await self.pace.asleep(rng_for(self.seed, "refund", request_id).uniform(0.3, 0.8))
        return f"RF-{request_id}"


async def handle_requests(
    requests: list[Request], llm: SimulatedLLM, pace: Pace, seed: int, *, spike: int = 0
) -> None:
    """Run one batch of requests through the broker, one at a time. ``spike`` is how many
    calls to the large model the provider refuses with 429 (another tenant's traffic spike)."""
    desk = SupportDesk(llm, pace, seed)
    if spike:
        llm.throttle(PRIMARY_MODEL, calls=spike)
    try:
        for request in requests:
            await desk.submit(request)
    finally:
        await desk.bus.close()
