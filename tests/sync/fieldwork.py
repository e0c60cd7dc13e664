"""A small domain double behind the engine: cases, tasks and append-only things.

It follows the rules of API.md the way the real services will, so the engine's tests can
watch outcomes without Flask or a database: workflow moves are judged against the state
now, ``case.edit`` merges three-way, appended things are keyed by UUID, deleted things
keep a tombstone. Its state lives in ``MemoryStore.data`` so savepoints roll it back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

from sync.conflicts import Refused, check_target, edit_status, edits_from_args, merge_fields
from sync.engine import Limits, PushInterrupted, push
from sync.envelope import Mutation
from sync.memory import MemoryStore
from sync.outcomes import Outcome, PushResult, Status

T0 = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
SHA = "ab" * 32


@dataclasses.dataclass(frozen=True)
class User:
    id: int
    role: str = "inspector"


def ident(n: int) -> str:
    """A readable, stable UUID for test data."""
    return str(uuid.UUID(int=n))


def mutation(mid: int, type_: str, entity: str, args: dict, *, base=None, skew_hours=0.0):
    ts = T0 + dt.timedelta(minutes=mid, hours=skew_hours)
    return {
        "mid": mid,
        "type": type_,
        "entity_id": entity,
        "base_version": base,
        "args": args,
        "client_ts": ts.isoformat(),
    }


def report_args(description: str = "路边暴露垃圾") -> dict:
    return {
        "category_code": "06010",
        "description": description,
        "address": "思明区 湖滨南路",
        "location": {"lat": 24.4798, "lon": 118.0894, "crs": "gcj02"},
        "photos": [{"photo_id": ident(9_000), "sha256": SHA, "kind": "problem"}],
    }


def body(device_id: str, *mutations: dict) -> dict:
    return {"device_id": device_id, "mutations": list(mutations)}


class Fieldwork:
    """The domain double. ``apply_for(user)`` is what the engine is handed."""

    def __init__(self, store: MemoryStore):
        self.store = store
        self.fail_once: set[tuple[str, int]] = set()  # (device, mid) that raise once
        self.fail_always: set[int] = set()
        store.data.setdefault("cases", {})
        store.data.setdefault("tasks", {})
        store.data.setdefault("appended", {})
        store.data.setdefault("applied", [])  # (device, mid) in the order applied

    # -- state, read fresh each time: a rollback replaces ``store.data`` --------------------

    @property
    def cases(self) -> dict[str, dict]:
        return self.store.data["cases"]

    @property
    def tasks(self) -> dict[str, dict]:
        return self.store.data["tasks"]

    @property
    def appended(self) -> dict[str, dict]:
        return self.store.data["appended"]

    @property
    def applied(self) -> list[tuple[str, int]]:
        return self.store.data["applied"]

    # -- the dispatcher's side --------------------------------------------------------------

    def server(self, action: str, entity: str, **values: Any) -> None:
        """A server-side change made while phones are offline, logged in commit order."""
        if action == "assign_task":
            self.tasks[entity] = {"version": 1, "state": "open", "assignee": values["to"]}
        elif action == "reassign_task" and entity in self.tasks:
            task = self.tasks[entity]
            task.update(assignee=values["to"], version=task["version"] + 1)
        elif action == "cancel_task" and entity in self.tasks:
            task = self.tasks[entity]
            task.update(state="cancelled", version=task["version"] + 1)
        elif action == "edit_case" and entity in self.cases:
            case = self.cases[entity]
            case["fields"][values["field"]] = values["value"]
            case["version"] += 1
        elif action == "delete_case" and entity in self.cases:
            self.cases[entity]["deleted"] = True
        elif action == "close_case" and entity in self.cases:
            case = self.cases[entity]
            case.update(state="closed", version=case["version"] + 1)
        self.store.log(("server", action, entity, tuple(sorted(values.items()))))

    # -- the phone's side, through the engine -----------------------------------------------

    def apply_for(self, user: User, device_id: str):
        def apply(m: Mutation) -> Outcome:
            if (device_id, m.mid) in self.fail_once:
                self.fail_once.discard((device_id, m.mid))
                raise ConnectionError("database went away")
            if m.mid in self.fail_always:
                raise RuntimeError("a bug in a service")
            outcome = HANDLERS[m.type.value](self, user, device_id, m)
            if outcome.status is not Status.REJECTED:
                self.applied.append((device_id, m.mid))
            return outcome

        return apply


@dataclasses.dataclass
class Reports:
    """The engine's ``BatchApply`` over the double: a run of new reports taken together,
    up to the first one that is not plain (an id already used, a refusal); a transient
    failure of any of them fails the whole batch (the engine goes one by one)."""

    work: Fieldwork
    user: User
    device_id: str
    calls: int = 0

    def accepts(self, m: Mutation) -> bool:
        return m.type.value == "report.create"

    def __call__(self, run) -> list[Outcome]:
        self.calls += 1
        work, outcomes = self.work, []
        for m in run:
            if (self.device_id, m.mid) in work.fail_once or m.mid in work.fail_always:
                raise ConnectionError("database went away")
            if str(m.entity_id) in work.cases:
                break
            try:
                outcome = _report(work, self.user, self.device_id, m)
            except Refused:
                break
            work.applied.append((self.device_id, m.mid))
            outcomes.append(outcome)
        return outcomes


def _report(work: Fieldwork, user: User, device_id: str, m: Mutation) -> Outcome:
    key = str(m.entity_id)
    fields = {k: m.args.get(k, "") for k in ("description", "address", "location")}
    fields["category_code"] = m.args["category_code"]
    existing = work.cases.get(key)
    if existing is not None:
        if existing["fields"] != fields:
            raise Refused("id_reused", "this case id names another report")
        return Outcome(Status.APPLIED, "case", m.entity_id, existing["version"])
    work.cases[key] = {"version": 1, "state": "reported", "fields": fields, "deleted": False}
    return Outcome(Status.APPLIED, "case", m.entity_id, 1)


def _edit(work: Fieldwork, user: User, device_id: str, m: Mutation) -> Outcome:
    case = work.cases.get(str(m.entity_id))
    check_target(exists=case is not None, deleted=bool(case and case["deleted"]))
    assert case is not None
    merge = merge_fields(case["fields"], edits_from_args(m.args))
    status = edit_status(merge, base_version=m.base_version, server_version=case["version"])
    if merge.applied:
        case["fields"].update(merge.applied)
        case["version"] += 1
    conflict_id = None
    if status is Status.CONFLICT:
        conflict_id = work.store.open_conflict(
            device_id, m, Refused("field_conflict", errors={f: "both" for f in merge.conflicts})
        )
    return Outcome(
        status,
        "case",
        m.entity_id,
        case["version"],
        conflict_id=conflict_id,
        reason="field_conflict" if conflict_id else None,
    )


def _task(work: Fieldwork, user: User, device_id: str, m: Mutation) -> Outcome:
    task = work.tasks.get(str(m.entity_id))
    check_target(exists=task is not None, deleted=False)
    assert task is not None
    if task["assignee"] != user.id:
        raise Refused("task_reassigned", "the task went to someone else")
    if task["state"] == "cancelled":
        raise Refused("task_cancelled", "the task was cancelled")
    action = m.args["action"]
    target = {"accept": "accepted", "complete": "completed"}.get(action)
    if target and task["state"] != target:
        if task["state"] == "completed":
            raise Refused("task_completed", "the task is already completed")
        task.update(state=target, version=task["version"] + 1)
    return Outcome(Status.APPLIED, "task", m.entity_id, task["version"])


def _self_handle(work: Fieldwork, user: User, device_id: str, m: Mutation) -> Outcome:
    case = work.cases.get(str(m.entity_id))
    check_target(exists=case is not None, deleted=bool(case and case["deleted"]))
    assert case is not None
    if case["state"] == "self_handled":
        return Outcome(Status.APPLIED, "case", m.entity_id, case["version"])
    if case["state"] != "reported":
        raise Refused("wrong_state", f"self-handling is not possible from {case['state']}")
    case.update(state="self_handled", version=case["version"] + 1)
    return Outcome(Status.APPLIED, "case", m.entity_id, case["version"])


def _append(work: Fieldwork, user: User, device_id: str, m: Mutation) -> Outcome:
    case_id = m.args.get("case_id")
    if case_id is not None:
        case = work.cases.get(case_id)
        check_target(exists=case is not None, deleted=bool(case and case["deleted"]))
    key = str(m.entity_id)
    content = {"type": m.type.value, "args": dict(m.args)}
    stored = work.appended.setdefault(key, content)
    if stored != content:
        raise Refused("id_reused", "this id names something else")
    return Outcome(Status.APPLIED, m.entity_type, m.entity_id, 1)


HANDLERS = {
    "report.create": _report,
    "case.edit": _edit,
    "task.update": _task,
    "case.self_handle": _self_handle,
    "photo.attach": _append,
    "comment.add": _append,
    "selfcheck.create": _append,
}


class Server:
    def __init__(self) -> None:
        self.store = MemoryStore()
        self.work = Fieldwork(self.store)

    def push(
        self,
        user: User,
        device_id: str,
        *mutations: dict,
        limits: Limits = Limits(),
        together: bool = False,
        clock=None,
    ) -> PushResult:
        """One push in one transaction; an interrupted push commits its prefix and
        returns it (the HTTP layer answers 503 and the phone re-sends). ``together``:
        runs of new reports go through the engine's batch path."""
        with self.store.transaction():
            try:
                return push(
                    self.store,
                    user,
                    device_id,
                    body(device_id, *mutations),
                    self.work.apply_for(user, device_id),
                    limits=limits,
                    apply_many=Reports(self.work, user, device_id) if together else None,
                    **({"clock": clock} if clock is not None else {}),
                )
            except PushInterrupted as interrupted:
                return interrupted.result

    def server(self, action: str, entity: str, **values) -> None:
        with self.store.transaction():
            self.work.server(action, entity, **values)
