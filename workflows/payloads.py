"""Signal and update payloads checked before the case acts on them: a signal cannot be refused, so
it is decoded by hand; an update is refused before it touches history."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.command_checks import Refusal

M = TypeVar("M", bound=BaseModel)


def _decode(model: type[M], args: tuple[Any, ...]) -> M | None:
    """One signal argument as `model`, or None if it is missing, extra or unreadable."""
    if len(args) != 1:
        return None
    if isinstance(args[0], model):
        return args[0]
    try:
        return model.model_validate(args[0])
    except ValidationError:
        return None


def _require(payload: object, model: type) -> None:
    """Refuse an update whose payload did not decode to its model (e.g. null), before history."""
    if not isinstance(payload, model):
        raise ApplicationError(f"payload: expected a {model.__name__}", type="InvalidPayload")


def _refuse(refusal: Refusal | None) -> None:
    """Refuse an update the case's state does not allow (see domain.command_checks), before history."""
    if refusal is not None:
        raise ApplicationError(refusal.message, type=refusal.type)
