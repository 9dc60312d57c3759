"""How an operation on one instance runs: locked, state-checked, recorded, undone on failure.

An operation runs inside :meth:`Operations.run`: the instance's lock is held, its live state is
checked against what the operation allows (a wrong state is an error that changes nothing), the
task is recorded while it runs, and the state the guest ends up in is recorded when it ends,
also when it fails. A task left by a process that is gone is recovered first, and what a failed
task half-did is undone, by the recovery part: the runner knows it only as :class:`Recovers`,
since recovery itself detaches devices with :mod:`._devices`, whose operations run here.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Collection, Iterator
from typing import Protocol

from zcompute.driver._context import DriverContext
from zcompute.driver._state import refuse_while_rescued, require_state
from zcompute.model import Instance, InstanceState, Task

__all__ = ["Operation", "Operations", "Recovers"]


@dataclasses.dataclass
class Operation:
    """The instance an operation works on, the state it was found in, and the devices it
    started to change (``("disk", target)``, ``("nic", mac)``): after a failure only those are
    made to match the record again."""

    instance: Instance
    state: InstanceState
    touched: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    @property
    def uuid(self) -> str:
        return self.instance.uuid

    @property
    def name(self) -> str:
        return self.instance.name


class Recovers(Protocol):
    """What the runner asks of recovery (:class:`~zcompute.driver._recovery.Recovery`)."""

    def recover_if_orphaned(self, inst: Instance) -> Instance: ...

    def undo_partial(self, uuid: str, task: Task, touched: list[tuple[str, str]]) -> bool: ...


class Operations:
    """Runs the operations of the parts on single instances (see the module docs)."""

    def __init__(self, ctx: DriverContext, recovery: Recovers) -> None:
        self._ctx = ctx
        self._recovery = recovery

    @contextlib.contextmanager
    def run(
        self,
        name_or_uuid: str,
        task: Task | None,
        allowed: Collection[InstanceState],
        verb: str,
    ) -> Iterator[Operation]:
        """Run one operation on an instance (see the module docs).

        ``task`` None is for instant operations that record no task (an NMI, a console).
        """
        ctx = self._ctx
        found = ctx.db.get_instance(name_or_uuid)
        with ctx.locks.hold(found.name, found.uuid):
            inst = self._recovery.recover_if_orphaned(ctx.db.get_instance(found.uuid))
            state = ctx.observed_state(inst.uuid)
            require_state(inst.name, verb, state, allowed)
            refuse_while_rescued(inst, verb, task)
            if task is not None:
                ctx.db.begin_task(inst.uuid, task)
            op = Operation(inst, state)
            settle = True
            try:
                yield op
            except BaseException:
                if task is not None:
                    # False, or the undo itself interrupted (SIGTERM again): the task stays
                    # recorded, for recovery to finish (see undo_partial)
                    settle = False
                    settle = self._recovery.undo_partial(inst.uuid, task, op.touched)
                raise
            finally:
                if task is not None and settle:
                    ctx.record_settled(inst.uuid)
