"""The case's workflow handle, typed for the updates the tests send.

temporalio types a handler declared with `@workflow.update(name=...)` by what its method returns,
which for an async handler is a coroutine, so `execute_update` looks as if it returned one; the
update's result is what that coroutine returns. CaseHandle says so to the type checker only: at run
time it is the SDK's own WorkflowHandle.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar, overload

from temporalio.client import WorkflowHandle
from temporalio.workflow import UpdateMethodMultiParam

from domain.models import CaseSummary

T = TypeVar("T")
P = TypeVar("P")

if TYPE_CHECKING:
    from workflows.complaint_case import ComplaintCase

    class CaseHandle(WorkflowHandle[ComplaintCase, CaseSummary]):
        # Narrower than the SDK's overloads on purpose: one argument, as every case update takes.
        @overload  # type: ignore[override]
        async def execute_update(
            self,
            update: UpdateMethodMultiParam[[Any, P], Awaitable[T]],
            arg: P,
            /,
            *,
            id: str | None = None,
            rpc_timeout: timedelta | None = None,
        ) -> T: ...
        @overload
        async def execute_update(
            self,
            update: UpdateMethodMultiParam[[Any, P], T],
            arg: P,
            /,
            *,
            id: str | None = None,
            rpc_timeout: timedelta | None = None,
        ) -> T: ...
        async def execute_update(self, update: Any, *args: Any, **kwargs: Any) -> Any: ...

else:
    CaseHandle = WorkflowHandle
