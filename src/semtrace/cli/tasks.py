"""``semtrace tasks list|answer|cancel``: the tasks waiting for a human, answered from a
terminal."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from semtrace.cli import app
from semtrace.cli._common import DbOption, Format, console, fail, print_arrow

tasks_app = typer.Typer(
    help="Tasks waiting for a human (input_required): list them, answer them, cancel them.",
    no_args_is_help=True,
)
app.add_typer(tasks_app, name="tasks")

ByOption = Annotated[
    str | None,
    typer.Option("--by", help="Who answers (default: your login name); stored redacted."),
]


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "cli"


@tasks_app.command("list")
def list_(
    db: DbOption = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = (
        Format.table
    ),
) -> None:
    """The tasks waiting for an answer, longest waiting first."""
    from semtrace._connect import connect
    from semtrace.store import queries

    try:
        con = connect(db)
    except Exception as exc:
        raise fail(str(exc)) from None
    try:
        table = queries.waiting_tasks(con)
    finally:
        con.close()
    if format is Format.table:
        table = table.select(
            ["task_id", "agent_name", "name", "question", "waited_ms", "answered_by"]
        )
    print_arrow(table, format, title="tasks waiting for a human", wide="records")


@tasks_app.command()
def answer(
    task_id: Annotated[str, typer.Argument(help="The task's id (semtrace tasks list).")],
    text: Annotated[str | None, typer.Argument(help="The answer.")] = None,
    approve: Annotated[bool, typer.Option("--approve", help="Approve (text optional).")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="Reject (text optional).")] = False,
    by: ByOption = None,
    db: DbOption = None,
) -> None:
    """Answer a task waiting for input; its agent takes the answer and continues."""
    from semtrace.inbox import AnswerRefused, answer_task

    if approve and reject:
        raise fail("--approve and --reject exclude each other")
    decision = "approve" if approve else "reject" if reject else None
    if text is None and decision is None:
        raise fail("give the answer as text, or --approve / --reject")
    try:
        given = answer_task(task_id, text, decision=decision, by=_who(by), db=db)
    except AnswerRefused as exc:
        raise fail(f"answer refused: {exc}") from None
    except Exception as exc:
        raise fail(str(exc)) from None
    whose = f"the {given['agent_name']} agent's" if given.get("agent_name") else "the"
    console.print(
        f"answered {whose} task {given.get('task_name') or task_id} ({task_id}); "
        "it continues once its agent takes the answer",
        highlight=False,
    )


@tasks_app.command()
def cancel(
    task_id: Annotated[str, typer.Argument(help="The task's id (semtrace tasks list).")],
    reason: Annotated[str | None, typer.Option(help="Why, for the task's record.")] = None,
    by: ByOption = None,
    db: DbOption = None,
) -> None:
    """Cancel a task waiting for input (it ends cancelled)."""
    from semtrace.inbox import AnswerRefused, cancel_task

    try:
        cancel_task(task_id, by=_who(by), reason=reason, db=db)
    except AnswerRefused as exc:
        raise fail(f"cancel refused: {exc}") from None
    except Exception as exc:
        raise fail(str(exc)) from None
    console.print(f"asked the agent to cancel task {task_id}", highlight=False)
