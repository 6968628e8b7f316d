"""Scenario 2, asynchronous choreography: invoice processing over an in-process event bus.

No agent calls another. The intake agent publishes each invoice; the extraction agent reacts
and publishes the extracted fields; the procurement and compliance agents both react to that,
independently. When something goes wrong in such a system, nobody can say which message led
where, unless the context travels with the messages, which :class:`semtrace.bus.EventBus`
does (W3C ``traceparent`` in the message headers; consumer spans link to their producer).

What goes wrong, on purpose:

- procurement cannot match one invoice: the vendor's record has a null Last-updated field, so
  its ID cannot be trusted. The agent says so in one sentence with ``log.failure(action=...,
  cause=..., impact=...)``, which is what ends up in the ``failures`` view and in front of the
  diagnoser;
- compliance finds one invoice ambiguous and cannot decide alone: it opens a long-running task
  (``semtrace.start_task``), moves it to ``input_required``, waits for a human answer, then
  completes it. The ``tasks`` view shows how long the work waited on the human.

In the scripted story a simulated reviewer answers. :func:`start_inbox_review` runs one more
invoice whose review waits for a real person: it stays in the dashboard's Inbox until someone
answers it there (or with ``semtrace tasks answer``), and then the compliance run completes.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

import semtrace
from semtrace.bus import EventBus
from semtrace.config import resolve_mode
from semtrace.demo._sim import Pace, rng_for
from semtrace.demo.llm_sim import SimulatedLLM

if TYPE_CHECKING:
    from semtrace.tracer.tasks import Task

__all__ = [
    "SERVICE",
    "VENDORS",
    "HumanReviewer",
    "InboxReview",
    "InboxReviewer",
    "Invoice",
    "Ledger",
    "NoInboxReview",
    "Reviewer",
    "VendorMaster",
    "make_invoices",
    "process_invoices",
    "start_inbox_review",
]

SERVICE = "invoice-processing"  # the service name this application runs under

intake_log = semtrace.get_logger(agent="intake")
procurement_log = semtrace.get_logger(agent="procurement")
compliance_log = semtrace.get_logger(agent="compliance")

# The vendor master data procurement matches against. Nordwind's record was migrated from the
# old ERP without its Last-updated date: the null that breaks matching.
VENDORS: dict[str, dict[str, Any]] = {
    "ACME GmbH": {"vendor_id": "V-1042", "last_updated": "2026-09-14"},
    "Blue Harbor Supplies": {"vendor_id": "V-1187", "last_updated": "2026-10-02"},
    "Kestrel Office": {"vendor_id": "V-1301", "last_updated": "2026-08-21"},
    "Nordwind Logistics": {"vendor_id": "V-2203", "last_updated": None},
    "Sunfield Energy": {"vendor_id": "V-2410", "last_updated": "2026-07-30"},
}
CLEAN_VENDORS = ["ACME GmbH", "Blue Harbor Supplies", "Kestrel Office", "Sunfield Energy"]


class VendorRecordError(LookupError):
    """The vendor master data cannot be trusted for a match."""


@dataclass(frozen=True)
class Invoice:
    """An invoice as intake receives it (the vendor name as printed on the invoice)."""

    invoice_id: str
    vendor: str
    amount: float
    currency: str
    po_number: str


class Reviewer(Protocol):
    """Who is asked when compliance cannot decide alone."""

    def notify(self, task: Task, question: str) -> None: ...


class HumanReviewer:
    """A simulated finance reviewer: gets a question about a task, answers it a while later.

    In a real system this is a ticket, a chat message or a form; the answer comes back through
    ``task.provide_input(answer, by=...)``, from whatever code receives it.
    """

    def __init__(self, pace: Pace) -> None:
        self.pace = pace
        self._pending: set[asyncio.Task[None]] = set()

    def notify(self, task: Task, question: str) -> None:
        """Send ``question`` to the reviewer; their answer goes to ``task``."""
        pending = asyncio.get_running_loop().create_task(self._answer(task, question))
        self._pending.add(pending)
        pending.add_done_callback(self._pending.discard)

    async def _answer(self, task: Task, question: str) -> None:
        await asyncio.sleep(self.pace.human_delay_s)
        task.provide_input(
            "Confirmed: 'ACME Ltd' is the UK trading name of ACME GmbH (V-1042); approve.",
            by="alice@example.com",
        )


class InboxReviewer:
    """No simulated reviewer: the question waits in the Inbox for a person to answer it."""

    def __init__(self) -> None:
        self.waiting = threading.Event()  # set once a review waits for its answer
        self.task_id: str | None = None

    def notify(self, task: Task, question: str) -> None:
        """The Inbox lists the waiting task by itself; remember which one it is."""
        self.task_id = task.id
        self.waiting.set()


def make_invoices(seed: int, batch: int, count: int, *, guarantee: bool = True) -> list[Invoice]:
    """``count`` invoices for one batch; with ``guarantee`` exactly one names the vendor with
    the null Last-updated field and one names a vendor ambiguously, else they occur at random
    (8% and 6%)."""
    invoices: list[Invoice] = []
    for i in range(count):
        rng = rng_for(seed, "invoice", batch, i)
        roll = 1.0 if guarantee else rng.random()
        vendor = (
            "Nordwind Logistics" if roll < 0.08 else "ACME Ltd" if roll < 0.14 else None
        ) or rng.choice(CLEAN_VENDORS)
        invoices.append(
            Invoice(
                invoice_id=f"INV-{batch + 1:03d}-{i + 1:02d}",
                vendor=vendor,
                amount=round(rng.uniform(120, 24_000), 2),
                currency=rng.choice(["EUR", "EUR", "USD", "GBP"]),
                po_number=f"PO-{rng.randint(1000, 9999)}",
            )
        )
    if guarantee and count >= 3:
        picks = rng_for(seed, "invoice-cases", batch).sample(range(count), 2)
        for pick, vendor in zip(picks, ["Nordwind Logistics", "ACME Ltd"], strict=True):
            inv = invoices[pick]
            invoices[pick] = Invoice(
                inv.invoice_id, vendor, inv.amount, inv.currency, inv.po_number
            )
    return invoices


async def process_invoices(
    invoices: list[Invoice], llm: SimulatedLLM, pace: Pace, reviewer: Reviewer, seed: int
) -> None:
    """Run one batch through the choreography and wait until every message is handled."""
    bus = EventBus(name="invoices")
    vendors = VendorMaster(pace)
    ledger = Ledger(pace)

    @bus.subscribe("invoice.received", agent="extraction")
    async def extract(msg: Any) -> None:
        invoice = Invoice(**msg.payload)
        await llm.achat(
            "gpt-4.1-mini",
            f"Extract vendor, amount, currency and PO number from invoice {invoice.invoice_id} "
            "(scanned PDF, 2 pages) as JSON.",
            reply=str(asdict(invoice)),
        )
        await bus.publish("invoice.extracted", asdict(invoice), agent="extraction")

    @bus.subscribe("invoice.extracted", agent="procurement")
    async def match_purchase_order(msg: Any) -> None:
        invoice = Invoice(**msg.payload)
        with procurement_log.bind(invoice=invoice.invoice_id, po=invoice.po_number):
            try:
                vendor_id = await vendors.lookup_vendor_id(invoice.vendor)
            except VendorRecordError:
                # Not a crash: the invoice goes on hold, and the log says why in one sentence.
                procurement_log.failure(
                    action="retrieve the vendor ID",
                    cause="the Last-updated field was null",
                    impact="no valid match could be made",
                    vendor=invoice.vendor,
                    field="last_updated",
                )
                await bus.publish("invoice.on_hold", asdict(invoice), agent="procurement")
                return
            await pace.asleep(rng_for(seed, "po", invoice.po_number).uniform(0.2, 0.5))
            procurement_log.info(
                "matched invoice to purchase order", vendor_id=vendor_id, amount=invoice.amount
            )
        await bus.publish(
            "invoice.matched", {**asdict(invoice), "vendor_id": vendor_id}, agent="procurement"
        )

    @bus.subscribe("invoice.extracted", agent="compliance")
    async def check_compliance(msg: Any) -> None:
        invoice = Invoice(**msg.payload)
        ambiguous = invoice.vendor not in VENDORS
        verdict = "ambiguous" if ambiguous else "compliant"
        await llm.achat(
            "claude-sonnet-4",
            f"Check invoice {invoice.invoice_id} from {invoice.vendor!r} for "
            f"{invoice.amount} {invoice.currency} against the vendor list and spending policy.",
            system="You are a compliance officer. Answer compliant, non-compliant or ambiguous.",
            reply=f"{verdict}: vendor name "
            + ("does not exactly match a registered vendor." if ambiguous else "is registered."),
        )
        if not ambiguous:
            compliance_log.info("invoice compliant", invoice=invoice.invoice_id)
            return
        # The decision needs a person: a long-running task that waits for the answer.
        async with semtrace.start_task("compliance review", agent="compliance") as task:
            question = (
                f"Is {invoice.vendor!r} on invoice {invoice.invoice_id} the registered vendor "
                "ACME GmbH?"
            )
            task.set_status("input_required", f"need a human to confirm the vendor: {question}")
            reviewer.notify(task, question)
            answer = await task.wait_for_input()
            rejected = bool(getattr(answer, "rejected", False))
            await llm.achat(
                "claude-sonnet-4",
                f"Reviewer answered: {answer} Decide on invoice {invoice.invoice_id}.",
                reply="non-compliant: the reviewer rejected the vendor."
                if rejected
                else "compliant: vendor identity confirmed by the reviewer.",
            )
            decision = "rejected" if rejected else "approved"
            task.complete(result={"invoice": invoice.invoice_id, "decision": decision})
        if rejected:
            compliance_log.warning("invoice rejected after review", invoice=invoice.invoice_id)
        else:
            compliance_log.info("invoice approved after review", invoice=invoice.invoice_id)

    @bus.subscribe("invoice.matched", agent="payments")
    async def schedule_payment(msg: Any) -> None:
        await ledger.schedule_payment(msg.payload["invoice_id"], msg.payload["amount"])

    @bus.subscribe("invoice.on_hold", agent="intake")
    async def ask_vendor_to_update(msg: Any) -> None:
        intake_log.warning(
            "invoice on hold until the vendor record is fixed",
            invoice=msg.payload["invoice_id"],
            vendor=msg.payload["vendor"],
        )

    try:
        await intake(bus, invoices)
        await bus.join()
    finally:
        await bus.close()


@semtrace.agent("intake", description="Receives invoices and starts their processing")
async def intake(bus: EventBus, invoices: list[Invoice]) -> None:
    """Publish each received invoice for whoever needs it."""
    for invoice in invoices:
        await bus.publish("invoice.received", asdict(invoice), agent="intake")
    intake_log.info("invoice batch received", invoices=len(invoices))


class Ledger:
    """The payments system (simulated)."""

    def __init__(self, pace: Pace) -> None:
        self.pace = pace

    @semtrace.tool("schedule_payment", description="Payments API: schedule a bank transfer")
    async def schedule_payment(self, invoice_id: str, amount: float) -> str:
        await self.pace.asleep(0.25)
        return f"PAY-{invoice_id}"


class VendorMaster:
    """The vendor master data service procurement calls (simulated)."""

    def __init__(self, pace: Pace) -> None:
        self.pace = pace

    @semtrace.tool("lookup_vendor_id", description="Vendor master data lookup")
    async def lookup_vendor_id(self, vendor: str) -> str:
        """Retrieve the vendor ID from the vendor master data."""
        await self.pace.asleep(0.35)
        record = VENDORS.get(vendor) or VENDORS["ACME GmbH"]  # fuzzy match on the legal name
        if record["last_updated"] is None:
            raise VendorRecordError(
                f"vendor record {record['vendor_id']} ({vendor}): its last_updated field is "
                "null, so its ID cannot be trusted for matching"
            )
        return str(record["vendor_id"])


class InboxReview:
    """One invoice whose compliance review waits in the Inbox, run on a thread of its own
    (see :func:`start_inbox_review`)."""

    def __init__(self, db: str, seed: int) -> None:
        self.db = db
        self.seed = seed
        self.reviewer = InboxReviewer()
        self.finished = threading.Event()  # the run completed (someone answered)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="semtrace-demo-inbox", daemon=True)

    @property
    def task_id(self) -> str | None:
        """The waiting task's id, once it waits."""
        return self.reviewer.task_id

    def _run(self) -> None:
        try:
            semtrace.configure(service_name=SERVICE, db=self.db, capture_logging=False)
            invoice = Invoice("INV-900-01", "ACME Ltd", 18_450.0, "GBP", "PO-7781")
            pace = Pace()
            with asyncio.Runner() as runner:
                runner.run(
                    process_invoices(
                        [invoice], SimulatedLLM(self.seed, pace), pace, self.reviewer, self.seed
                    )
                )
            semtrace.force_flush()
        except BaseException as exc:  # reported by wait_until_waiting / stop, not lost
            self.error = exc
        finally:
            self.finished.set()
            self.reviewer.waiting.set()

    def wait_until_waiting(self, timeout_s: float = 60.0) -> str:
        """Block until the review waits in the Inbox; returns its task id."""
        self.reviewer.waiting.wait(timeout_s)
        if self.error is not None:
            raise self.error
        if self.task_id is None:
            raise TimeoutError(f"the Inbox review did not start within {timeout_s:g} s")
        semtrace.force_flush()  # its question is in the database: the Inbox shows it
        return self.task_id

    def announce(self) -> str:
        """What to tell the user once the review waits (blocks until it does)."""
        task_id = self.wait_until_waiting()
        return (
            f"One compliance review waits for you in the dashboard's Inbox (task {task_id}): "
            "answer it there, or with `semtrace tasks answer "
            f"{task_id} --approve`, and watch the compliance run complete."
        )

    def stop(self, timeout_s: float = 30.0) -> None:
        """Cancel the review if nobody answered it, and write everything it recorded."""
        if not self.finished.is_set() and self.task_id is not None:
            from semtrace.tracer.tasks import get_task

            task = get_task(self.task_id)
            if task is not None:
                task.cancel("the demo stopped before anyone answered")
        self.finished.wait(timeout_s)
        semtrace.shutdown()


class NoInboxReview:
    """What :func:`start_inbox_review` gives in embedded mode: no review, and one line
    saying why."""

    task_id = None

    def announce(self) -> str:
        return (
            "No review waits in the Inbox: in embedded mode (SEMTRACE_MODE=embedded) this "
            "process holds the file, so nobody could answer it; owner mode (the default) "
            "leaves one waiting."
        )

    def stop(self, timeout_s: float = 30.0) -> None:
        """Nothing runs: nothing to stop."""


def start_inbox_review(db: str, seed: int = 7) -> InboxReview | NoInboxReview:
    """Start one invoice (ACME Ltd, ambiguous) whose compliance review waits for a person in
    the Inbox; the run completes once they answer. ``stop()`` it when the demo ends.

    In embedded mode no review starts (this process would hold the file, so neither the
    dashboard nor the CLI could answer): a :class:`NoInboxReview` whose ``announce()`` says
    so."""
    if resolve_mode(None) != "owner":
        return NoInboxReview()
    review = InboxReview(db, seed)
    review._thread.start()
    return review
