"""Convergence through the real server, on SQLite and PostgreSQL (Hypothesis stateful).

Four phones — the inspector's two (one user, two ``device_id``), the other inspector's and
a handler's — queue mutations offline, push them in any slices (prefixes, old batches sent
again, batches with a hole, pushes whose answer is lost), and pull pages of the feed, while
a dispatcher registers, sends to verify, dispatches, sends checks, reassigns tasks, merges
duplicates, confirms self-handling and closes cases over the REST API. Every request goes
through the Flask test client and the real services.

Each phone is a model: an outbox (its mutations, mid 1, 2, 3, …), the outcome it learnt of
each mid, a feed cursor and a replica ``{(entity_type, entity_id): (version, data)}`` kept
only from what it pulled (``upsert`` sets, ``revoke``/``delete`` removes).

When every phone has pushed everything and pulled to the head (the rule
``everyone_syncs``, and always at the end):

1. each phone's replica of cases, tasks and photos is exactly what its user may see now
   (``FEED.types[t].visible``), each with the ``version`` and ``data`` the server's
   ``load()`` gives now — nothing missing, nothing stale, nothing out of scope. (A
   snapshot leaves out what was closed or completed more than ``SNAPSHOT_CLOSED_DAYS``
   ago; a run lasts seconds, so here "may see" and "in a snapshot" are the same.) The
   rule ``pull_to_head`` checks this for one phone whatever it has not pushed yet;
2. no mutation is lost or doubled: each device's ``sync_mutations`` rows are mids
   ``1..last_mid``, each once, ``last_mid`` is the length of its outbox, and every outcome
   the phone learnt (first answer or a ``duplicate``'s ``original_status``) is the stored
   one;
3. conflicts do not depend on retries: the ``sync_conflicts`` rows are exactly the mids
   stored ``conflict``, each once, with their reason and id; sending every phone's whole
   outbox again answers ``duplicate`` for all with the stored outcome, adds no conflict
   and writes nothing to the feed.

After every push the answers are checked as the engine-level machine checks them
(``tests/sync/test_engine_stateful.py``): one result per mutation in order, mids decided
one after another, a ``duplicate`` answering the first result, a ``gap`` naming the mid
the server waits for.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import sys
import uuid

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.cases.models import Case, CaseRequest, Task
from app.cases.queries import OPEN
from app.feed.capture import head
from app.feed.registry import FEED
from app.photos.models import Photo
from app.sync_api.models import SyncConflict, SyncDevice, SyncMutation
from tests import case_factories as cf
from tests import factories
from tests.api.test_sync_pull import pull_all, things
from tests.database import joined_session

TRACKED = ("case", "task", "photo")
MODELS = {"case": Case, "task": Task, "photo": Photo}
DECIDED = ("applied", "merged", "conflict", "rejected")
T0 = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
# Phone-made ids are derived from a counter, so a run replays the same (Hypothesis shrinks).
NAMESPACE = uuid.UUID("6f1c3c2e-5a0b-4b8e-9d3a-2f4e8c7b1a90")
# Where a report is made: the inspector's grids (row 0), the other inspector's (row 1),
# nobody's (row 2), and the sea off Xiamen (in no grid at all).
PLACES = {
    "own_grid": cf.cell(0, 0),
    "own_grid_east": cf.cell(0, 2),
    "other_inspectors_grid": cf.cell(1, 1),
    "nobodys_grid": cf.cell(2, 2),
    "sea": {"lat": cf.SEA[0], "lon": cf.SEA[1], "crs": "wgs84"},
}
PHONES = ("inspector-a", "inspector-b", "other-inspector", "handler")


@dataclasses.dataclass
class Phone:
    name: str
    user_id: int
    headers: dict
    outbox: list[dict] = dataclasses.field(default_factory=list)
    # mid → the outcome as the phone learnt it (status: the original one of a duplicate).
    outcomes: dict[int, dict] = dataclasses.field(default_factory=dict)
    replica: dict[tuple[str, str], tuple] = dataclasses.field(default_factory=dict)
    cursor: str = ""

    @property
    def device_id(self) -> str:
        return self.name

    def unsent_from(self) -> int:
        """The first mid whose outcome the phone does not know (every earlier one is
        decided, so sending from here never makes a gap)."""
        mid = 1
        while mid in self.outcomes:
            mid += 1
        return mid

    def held(self, entity_type: str) -> list[str]:
        """The ids of a type in the replica, in an order that does not depend on the
        server's random ids (so Hypothesis replays a run exactly): tasks by case, kind and
        creation, cases by their phone-made ids."""
        ids = [key[1] for key in self.replica if key[0] == entity_type]
        if entity_type == "task":
            data = {i: self.replica[("task", i)][1] for i in ids}
            return sorted(
                ids, key=lambda i: (data[i]["case_id"], data[i]["kind"], data[i]["created_at"], i)
            )
        return sorted(ids)


_FIELDS = ("entity_type", "entity_id", "version", "conflict_id", "reason")


def _comparable(result: dict) -> tuple:
    return tuple(result.get(name) for name in _FIELDS)


def _learnt(result: dict) -> dict:
    """A result as the phone keeps it: a duplicate's status is the one first decided."""
    status = result["original_status"] if result["status"] == "duplicate" else result["status"]
    return {"status": status, **dict(zip(_FIELDS, _comparable(result), strict=True))}


def _plain(data):
    """As the phone holds it: what the JSON on the wire decodes to."""
    return json.loads(json.dumps(data))


class Convergence(RuleBasedStateMachine):
    """The phones, the dispatcher and the server of one example (a fresh database)."""

    app = None  # set by the test: the session's app, on one backend
    connection = None  # set by the test: its transaction (tests.database)
    example = None  # the example's savepoint in it

    def __init__(self) -> None:
        super().__init__()
        # A fresh database: each example in a savepoint, rolled back by its teardown (or
        # here, by the next example, when this one failed before it had a teardown).
        if Convergence.example is not None and Convergence.example.is_active:
            Convergence.example.rollback()
        Convergence.example = self.connection.begin_nested()
        self.client = self.app.test_client()
        self.serial = 0
        with self._session() as session:
            world = factories.make_world(session)
            cw = cf.make_case_world(session, world)
        self.inspector_ids = (world.users["inspector"].id, cw.other_inspector.id)
        self.department_id = world.department.id
        self.dispatcher = factories.login_headers(
            self.client, world.users["dispatcher"].username, device_id="command-centre"
        )
        users = {
            "inspector-a": world.users["inspector"],
            "inspector-b": world.users["inspector"],
            "other-inspector": cw.other_inspector,
            "handler": world.users["handler"],
        }
        self.phones = {
            name: Phone(
                name,
                user.id,
                factories.login_headers(self.client, user.username, device_id=name),
            )
            for name, user in users.items()
        }
        # (device, mid) → the result the mid was first decided with (seen by the test even
        # when the phone lost the answer).
        self.first: dict[tuple[str, int], dict] = {}
        self._morning(world.users["inspector"], cw)
        for phone in self.phones.values():
            self._pull_to_head(phone)

    def _morning(self, inspector: User, cw: cf.CaseWorld) -> None:
        """Work already under way when the phones first pull, made over REST: a case with
        the handler's department, one handled and waiting to be sent for a check, one
        waiting for the inspector's check, one for the other inspector to verify, one fixed
        on the spot waiting for the dispatcher's confirmation, and one just reported."""
        reporter = factories.login_headers(self.client, inspector.username, device_id="desk")
        handler = factories.login_headers(
            self.client, cw.users["handler"].username, device_id="desk"
        )
        centre = self.dispatcher
        made = {}
        for name, place in (
            ("handle", "own_grid"),
            ("handled", "own_grid_east"),
            ("check", "own_grid_east"),
            ("verify", "other_inspectors_grid"),
            ("self_handled", "own_grid"),
            ("reported", "own_grid"),
        ):
            made[name] = case = cf.report(
                self.client,
                reporter,
                cw.category,
                id=self._new_id("case"),
                location=PLACES[place],
                photos=[self._photo("problem")],
            )["id"]
            if name in ("handle", "handled", "check"):
                cf.act(self.client, centre, case, "register")
                detail = cf.act(
                    self.client, centre, case, "dispatch", department_id=self.department_id
                )
            if name in ("handled", "check"):
                handle = cf.open_task(detail, "handle")
                closure = [self._photo("closure")]
                cf.task_post(self.client, handler, handle["id"], "complete", photos=closure)
        cf.act(self.client, centre, made["check"], "send_check")
        cf.act(self.client, centre, made["verify"], "send_verify")
        cf.request(
            self.client,
            reporter,
            made["self_handled"],
            "self_handle",
            reason="已当场清理",
            photos=[self._photo("closure")],
        )

    # -- helpers ------------------------------------------------------------------------------

    def _session(self) -> Session:
        return joined_session(self.connection)

    def _new_id(self, kind: str) -> str:
        self.serial += 1
        return str(uuid.uuid5(NAMESPACE, f"{kind}-{self.serial}"))

    def _photo(self, kind: str) -> dict:
        photo_id = self._new_id("photo")
        sha = hashlib.sha256(uuid.UUID(photo_id).bytes).hexdigest()
        return {"photo_id": photo_id, "sha256": sha, "kind": kind}

    def _queue(self, phone: Phone, type_: str, entity_id: str, args: dict, base=None) -> None:
        mid = len(phone.outbox) + 1
        phone.outbox.append(
            {
                "mid": mid,
                "type": type_,
                "entity_id": entity_id,
                "base_version": base,
                "args": args,
                "client_ts": (T0 + dt.timedelta(minutes=mid)).isoformat(),
            }
        )

    def _last_mid(self, phone: Phone) -> int:
        with self._session() as session:
            value = session.scalar(
                sa.select(SyncDevice.last_mid).where(
                    SyncDevice.device_id == phone.device_id, SyncDevice.user_id == phone.user_id
                )
            )
        return value or 0

    def _push(self, phone: Phone, batch: list[dict], *, lose: bool = False) -> dict:
        """Push ``batch``; check the answers; the phone learns them unless ``lose``."""
        before = self._last_mid(phone)
        response = self.client.post(
            "/api/v1/sync/push",
            json={"device_id": phone.device_id, "mutations": batch},
            headers=phone.headers,
        )
        assert response.status_code == 200, response.get_json()
        answer = response.get_json()
        results = answer["results"]
        assert [r["mid"] for r in results] == [m["mid"] for m in batch], "one result each"
        expected = before + 1
        for result in results:
            key = (phone.device_id, result["mid"])
            assert result["reason"] != "mid_reused", "a phone never changes a queued mutation"
            if result["status"] == "gap":
                assert result["mid"] > expected
                assert result["expected_mid"] == expected, result
            elif result["status"] == "duplicate":
                assert result["mid"] < expected
                first = self.first[key]
                assert result["original_status"] == first["status"], (result, first)
                assert _comparable(result) == _comparable(first), (result, first)
            else:
                assert result["status"] in DECIDED, result
                assert result["mid"] == expected, "decided in mid order, one after another"
                assert key not in self.first, "decided once"
                self.first[key] = result
                expected += 1
        assert answer["last_mid"] == expected - 1 == self._last_mid(phone)
        if not lose:
            for result in results:
                if result["status"] == "gap":
                    continue
                learnt = _learnt(result)
                known = phone.outcomes.setdefault(result["mid"], learnt)
                assert known == learnt, (known, learnt)
        return answer

    def _pull(self, phone: Phone, limit: int) -> bool:
        """One page into the replica; whether there is more."""
        response = self.client.get(
            "/api/v1/sync/pull",
            query_string={"cursor": phone.cursor, "limit": limit},
            headers=phone.headers,
        )
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        # Nobody's scope changes here and nothing is pruned: a reset would be a bug.
        assert not page["reset"], page
        assert page["last_mid"] == self._last_mid(phone)
        seqs = [change["seq"] for change in page["changes"]]
        assert seqs == sorted(seqs), "a page is in feed order"
        for change in page["changes"]:
            if change["entity_type"] not in TRACKED:
                continue
            key = (change["entity_type"], change["entity_id"])
            if change["op"] == "upsert":
                held = phone.replica.get(key)
                if held is not None and held[0] is not None:
                    assert change["version"] >= held[0], ("a version went back", key)
                phone.replica[key] = (change["version"], change["data"])
            else:
                assert change["op"] in ("revoke", "delete"), change
                assert change["data"] is None
                phone.replica.pop(key, None)
        phone.cursor = page["cursor"]
        return page["has_more"]

    def _pull_to_head(self, phone: Phone, limit: int = 500) -> None:
        for _ in range(10_000):
            if not self._pull(phone, limit):
                return
        raise AssertionError("the feed never ended")

    def _with(self, entity_type: str) -> list[str]:
        return [name for name in PHONES if self.phones[name].held(entity_type)]

    # -- the phones ---------------------------------------------------------------------------

    @rule(name=st.sampled_from(PHONES), place=st.sampled_from(sorted(PLACES)))
    def queue_report(self, name, place):
        """A report made offline (a handler's is rejected: handlers do not report)."""
        phone = self.phones[name]
        args = {
            "category_code": "06010",  # 暴露垃圾 in GB/T 47678
            "description": f"路边暴露垃圾 {place}",
            "address": "中山路 1 号",
            "location": PLACES[place],
            "photos": [self._photo("problem")],
        }
        self._queue(phone, "report.create", self._new_id("case"), args)

    @precondition(lambda self: self._with("task"))
    @rule(data=st.data(), action=st.sampled_from(["accept", "complete"]), passed=st.booleans())
    def queue_task_update(self, data, action, passed):
        """Progress on a task the phone holds: accept, or complete with its evidence."""
        phone = self.phones[data.draw(st.sampled_from(self._with("task")), label="phone")]
        task_id = data.draw(st.sampled_from(phone.held("task")), label="task")
        version, task = phone.replica[("task", task_id)]
        args: dict = {"action": action}
        if action == "complete":
            if task["kind"] in ("handle", "rectify"):
                args.update(note="已清理", photos=[self._photo("closure")])
            elif task["kind"] == "check":
                args.update(result="pass" if passed else "fail", photos=[self._photo("check")])
                args["note"] = "已整改" if passed else "仍有垃圾"
            else:  # verify
                args.update(result="pass" if passed else "fail", note="属实")
        self._queue(phone, "task.update", task_id, args, base=version)

    @precondition(lambda self: self._with("case"))
    @rule(data=st.data())
    def queue_self_handle(self, data):
        """Fixed on the spot, with the after-photo (only the reporter may; only a case still
        reported can be)."""
        phone = self.phones[data.draw(st.sampled_from(self._with("case")), label="phone")]
        case_id = data.draw(st.sampled_from(phone.held("case")), label="case")
        version = phone.replica[("case", case_id)][0]
        args = {"note": "已当场清理", "photos": [self._photo("closure")]}
        self._queue(phone, "case.self_handle", case_id, args, base=version)

    @precondition(lambda self: self._with("case"))
    @rule(data=st.data())
    def queue_photo_attach(self, data):
        """One more photo of a case the phone holds (a handler's shows the work done)."""
        phone = self.phones[data.draw(st.sampled_from(self._with("case")), label="phone")]
        case_id = data.draw(st.sampled_from(phone.held("case")), label="case")
        kind = "closure" if phone.name == "handler" else "problem"
        photo = self._photo(kind)
        args = {"case_id": case_id, "sha256": photo["sha256"], "kind": kind}
        self._queue(phone, "photo.attach", photo["photo_id"], args)

    @precondition(lambda self: any(p.outbox for p in self.phones.values()))
    @rule(
        data=st.data(),
        how=st.sampled_from(["rest", "prefix", "again", "hole"]),
        lose=st.booleans(),
    )
    def push(self, data, how, lose):
        """``rest``: everything whose outcome the phone does not know; ``prefix``: the
        start of that; ``again``: any slice of the outbox (old batches re-sent, or sent
        ahead of the server: a gap); ``hole``: a slice with one mutation left out.
        ``lose``: the answer never reaches the phone (it re-sends later)."""
        names = [name for name in PHONES if self.phones[name].outbox]
        phone = self.phones[data.draw(st.sampled_from(names), label="phone")]
        outbox = phone.outbox
        start = min(phone.unsent_from(), len(outbox)) - 1
        if how == "again":
            start = data.draw(st.integers(0, len(outbox) - 1), label="start")
        end = len(outbox)
        if how != "rest":
            end = data.draw(st.integers(start + 1, len(outbox)), label="end")
        batch = outbox[start:end]
        if how == "hole" and len(batch) > 2:
            del batch[data.draw(st.integers(1, len(batch) - 2), label="left out")]
        self._push(phone, batch, lose=lose)

    @rule(name=st.sampled_from(PHONES), limit=st.integers(1, 4))
    def pull_a_page(self, name, limit):
        self._pull(self.phones[name], limit)

    @rule(name=st.sampled_from(PHONES), limit=st.sampled_from([2, 500]))
    def pull_to_head(self, name, limit):
        """A phone that pulled to the head holds what the server shows it now, whatever it
        has not pushed yet (the replica is only what it pulled)."""
        phone = self.phones[name]
        self._pull_to_head(phone, limit)
        self._replica_is_the_server_view(phone)

    @rule(name=st.sampled_from(PHONES))
    def start_afresh(self, name):
        """The phone drops its replica (as after a ``reset``) and pulls from an empty cursor
        again, page by page as the rules pull, while others keep working: the snapshot,
        and the feed above the head it was taken at, must bring it to the same state."""
        phone = self.phones[name]
        phone.replica.clear()
        phone.cursor = ""

    # -- the dispatcher -----------------------------------------------------------------------

    def _dispatcher_moves(self) -> list[tuple]:
        """Every move the command centre can make now, in an order independent of the
        server's random ids."""
        moves: list[tuple] = []
        with self._session() as session:
            cases = session.execute(
                sa.select(Case.id, Case.state, Case.check_passed, Case.merged_into_id)
            ).all()
            open_cases = sorted(
                str(c.id) for c in cases if c.state in OPEN and c.merged_into_id is None
            )
            for case_id, state, check_passed, _ in cases:
                case = str(case_id)
                if state in ("reported", "verifying", "registered"):
                    # A duplicate: the target gains its reporter, who then sees the target
                    # and its photos.
                    moves += [("merge", case, into) for into in open_cases if into != case]
                if state == "reported":
                    moves.append(("register", case))
                    moves += [("send_verify", case, who) for who in self.inspector_ids]
                elif state == "verifying":
                    moves.append(("register", case))
                elif state in ("registered", "returned"):
                    moves.append(("dispatch", case))
                elif state == "handled":
                    moves += [("send_check", case, who) for who in self.inspector_ids]
                elif state == "checking" and check_passed:
                    moves.append(("close", case))
            for task_id, case_id, kind, assignee in session.execute(
                sa.select(Task.id, Task.case_id, Task.kind, Task.assignee_id).where(
                    Task.state.in_(("open", "accepted")), Task.kind.in_(("check", "verify"))
                )
            ):
                to = next(i for i in self.inspector_ids if i != assignee)
                moves.append(("reassign", str(case_id), kind, str(task_id), to))
            for request_id, case_id in session.execute(
                sa.select(CaseRequest.id, CaseRequest.case_id)
                .join(Case, Case.id == CaseRequest.case_id)
                .where(
                    CaseRequest.kind == "self_handle",
                    CaseRequest.status == "pending",
                    Case.state == "reported",  # sent to verify since: not confirmable
                )
            ):
                moves.append(("confirm_self_handle", str(case_id), str(request_id)))
        # Sorted by the action and the (phone-made) case id; a task or request id only
        # comes after them, and one case has one open task of a kind, one pending request.
        return sorted(moves)

    @rule(data=st.data(), count=st.integers(1, 3))
    def dispatcher_acts(self, data, count):
        """A few moves of the command centre, each legal when it is made."""
        for _ in range(count):
            moves = self._dispatcher_moves()
            if not moves:
                return
            # The kind of move first, then its target: many open tasks to reassign must not
            # crowd out the one case waiting to be sent for a check.
            action = data.draw(st.sampled_from(sorted({m[0] for m in moves})), label="action")
            targets = [m for m in moves if m[0] == action]
            self._dispatcher_move(data.draw(st.sampled_from(targets), label="move"))

    def _dispatcher_move(self, move: tuple) -> None:
        action, case = move[0], move[1]
        if action in ("register", "dispatch", "close"):
            body = {"department_id": self.department_id} if action == "dispatch" else {}
            cf.act(self.client, self.dispatcher, case, action, **body)
        elif action in ("send_verify", "send_check"):
            cf.act(self.client, self.dispatcher, case, action, inspector_id=move[2])
        elif action == "reassign":
            cf.task_post(self.client, self.dispatcher, move[3], "reassign", assignee_id=move[4])
        elif action == "merge":
            response = self.client.post(
                f"/api/v1/cases/{case}/merge",
                json={"into": move[2], "opinion": "重复上报"},
                headers=self.dispatcher,
            )
            assert response.status_code == 200, response.get_json()
        else:
            cf.decide(self.client, self.dispatcher, move[2], approve=True, opinion="属实")

    # -- convergence --------------------------------------------------------------------------

    @rule()
    def everyone_syncs(self):
        self._converge()

    def _converge(self) -> None:
        for name in PHONES:  # every phone pushes all it has not heard back about …
            phone = self.phones[name]
            if phone.outbox:
                self._push(phone, phone.outbox[phone.unsent_from() - 1 :])
            assert phone.unsent_from() == len(phone.outbox) + 1, "every mid decided"
        for name in PHONES:  # … then, after all pushes, pulls to the head
            self._pull_to_head(self.phones[name])
        for name in PHONES:
            self._replica_is_the_server_view(self.phones[name])
        self._nothing_lost_or_doubled()
        self._conflicts_are_the_conflicting_mids()
        self._sending_everything_again_changes_nothing()

    def _replica_is_the_server_view(self, phone: Phone) -> None:
        with self._session() as session:
            user = session.get(User, phone.user_id)
            expected = {}
            for entity_type in TRACKED:
                kind = FEED.types[entity_type]
                ids = list(session.scalars(sa.select(MODELS[entity_type].id)))
                shown = kind.visible(session, user, ids) if ids else set()
                for entity_id, (version, data) in kind.load(session, list(shown)).items():
                    expected[(entity_type, str(entity_id))] = (version, _plain(data))
        missing = sorted(set(expected) - set(phone.replica))
        extra = sorted(set(phone.replica) - set(expected))
        assert not missing and not extra, (phone.name, "missing", missing, "extra", extra)
        stale = [key for key in expected if phone.replica[key] != expected[key]]
        assert not stale, [(key, phone.replica[key], expected[key]) for key in stale]

    def _stored(self, phone: Phone) -> tuple[int, list]:
        with self._session() as session:
            device = session.scalars(
                sa.select(SyncDevice).where(
                    SyncDevice.device_id == phone.device_id, SyncDevice.user_id == phone.user_id
                )
            ).one_or_none()
            if device is None:
                return 0, []
            rows = session.scalars(
                sa.select(SyncMutation)
                .where(SyncMutation.device_pk == device.id)
                .order_by(SyncMutation.mid)
            ).all()
        return device.id, rows

    @invariant()
    def every_device_decided_a_contiguous_prefix_once(self):
        for phone in self.phones.values():
            _, rows = self._stored(phone)
            assert all(row.mid is not None for row in rows), "no stray: mids are never reused"
            assert [row.mid for row in rows] == list(range(1, self._last_mid(phone) + 1))

    def _nothing_lost_or_doubled(self) -> None:
        for phone in self.phones.values():
            _, rows = self._stored(phone)
            assert [row.mid for row in rows] == [m["mid"] for m in phone.outbox]
            for row in rows:
                sent = phone.outbox[row.mid - 1]
                assert row.payload["type"] == sent["type"]
                assert row.payload["entity_id"] == sent["entity_id"]
                assert row.payload["args"] == sent["args"]
                stored = {
                    "status": row.status,
                    "entity_type": row.entity_type,
                    "entity_id": str(row.entity_id) if row.entity_id else None,
                    "version": row.version,
                    "conflict_id": row.conflict_id,
                    "reason": row.reason,
                }
                assert phone.outcomes[row.mid] == stored, (phone.name, row.mid)
                first = self.first[(phone.device_id, row.mid)]
                assert _learnt(first) == stored

    def _conflicts_are_the_conflicting_mids(self) -> None:
        with self._session() as session:
            conflicts = session.execute(
                sa.select(
                    SyncConflict.device_pk, SyncConflict.mid, SyncConflict.id, SyncConflict.reason
                )
            ).all()
        recorded = sorted((pk, mid) for pk, mid, _, _ in conflicts)
        assert len(recorded) == len(set(recorded)), "one conflict per mid"
        by_mutation = {(pk, mid): (cid, reason) for pk, mid, cid, reason in conflicts}
        expected = {}
        for phone in self.phones.values():
            pk, rows = self._stored(phone)
            for row in rows:
                if row.status == "conflict":
                    expected[(pk, row.mid)] = (row.conflict_id, row.reason)
        assert by_mutation == expected

    def _conflict_count(self) -> int:
        with self._session() as session:
            return session.scalar(sa.select(sa.func.count()).select_from(SyncConflict))

    def _feed_head(self) -> tuple[int, int]:
        return head(self.connection)

    def _sending_everything_again_changes_nothing(self) -> None:
        conflicts, feed = self._conflict_count(), self._feed_head()
        for name in PHONES:
            phone = self.phones[name]
            if not phone.outbox:
                continue
            answer = self._push(phone, phone.outbox)
            assert {r["status"] for r in answer["results"]} == {"duplicate"}
        assert self._conflict_count() == conflicts, "a retry never adds a conflict"
        assert self._feed_head() == feed, "a retry changes nothing a phone would pull"

    def teardown(self):
        try:
            if sys.exc_info()[0] is None:  # a step failed already: report that, not this
                self._converge()
        finally:
            Convergence.example.rollback()


def test_phones_converge_whatever_the_interleaving(app, clean_db):
    Convergence.app, Convergence.connection = app, clean_db
    try:
        run_state_machine_as_test(
            Convergence,
            settings=settings(
                max_examples=20,
                stateful_step_count=15,
                deadline=None,
                suppress_health_check=[
                    HealthCheck.too_slow,
                    HealthCheck.filter_too_much,
                    HealthCheck.data_too_large,
                ],
            ),
        )
    finally:
        Convergence.app = Convergence.connection = Convergence.example = None


# -- what the machine found, pinned down -----------------------------------------------------


def _phone(client, user, device_id: str) -> dict:
    return factories.login_headers(client, user.username, device_id=device_id)


def _dispatched(client, auth, cw, place=(0, 0)) -> dict:
    created = cf.report(client, auth("inspector"), cw.category, location=cf.cell(*place))
    cf.act(client, auth("dispatcher"), created["id"], "register")
    return cf.act(
        client, auth("dispatcher"), created["id"], "dispatch", department_id=cw.world.department.id
    )


def test_a_case_that_comes_into_a_scope_brings_its_photos(client, auth, session, world):
    """A verify task makes the case visible to an inspector who could not see it, and a
    dispatch to a department's handlers: its photos, seen through the case, come too."""
    cw = cf.make_case_world(session, world)
    other = _phone(client, cw.other_inspector, "other-phone")
    handler = _phone(client, cw.users["handler"], "handler-phone")
    _, other_cursor = pull_all(client, other)
    _, handler_cursor = pull_all(client, handler)
    created = cf.report(client, auth("inspector"), cw.category, location=cf.cell(0, 0))
    photo_ids = {p["photo_id"] for p in created["photos"]["problem"]}
    changes, other_cursor = pull_all(client, other, other_cursor)
    assert created["id"] not in things(changes, "case")

    centre = auth("dispatcher")
    cf.act(client, centre, created["id"], "send_verify", inspector_id=cw.other_inspector.id)
    changes, _ = pull_all(client, other, other_cursor)
    assert created["id"] in things(changes, "case")
    assert photo_ids and photo_ids <= set(things(changes, "photo"))

    cf.act(client, centre, created["id"], "register")
    cf.act(client, centre, created["id"], "dispatch", department_id=cw.world.department.id)
    changes, _ = pull_all(client, handler, handler_cursor)
    assert created["id"] in things(changes, "case")
    assert photo_ids <= set(things(changes, "photo"))


def test_a_snapshot_in_pages_of_one_holds_every_task(client, auth, session, world):
    """The task snapshot pages by id; ordered by anything else it skipped tasks (with six
    tasks of random ids, all but one time in 720)."""
    cw = cf.make_case_world(session, world)
    made = {cf.open_task(_dispatched(client, auth, cw), "handle")["id"] for _ in range(6)}
    handler = _phone(client, cw.users["handler"], "handler-phone")
    one_by_one, _ = pull_all(client, handler, limit=1)
    whole, _ = pull_all(client, handler)
    assert set(things(one_by_one, "task")) == set(things(whole, "task")) == made


def test_a_phone_starting_afresh_holds_the_tasks_a_following_phone_holds(
    client, auth, session, world
):
    """A completed task reaches a phone following the feed as an upsert; a phone pulling
    from an empty cursor gets it in the snapshot, as it gets a recently closed case."""
    cw = cf.make_case_world(session, world)
    following = _phone(client, cw.users["handler"], "handler-phone-1")
    _, cursor = pull_all(client, following)
    handle = cf.open_task(_dispatched(client, auth, cw), "handle")
    cf.task_post(client, auth("handler"), handle["id"], "complete", photos=[cf.photo("closure")])
    followed, _ = pull_all(client, following, cursor)
    assert things(followed, "task")[handle["id"]]["data"]["state"] == "completed"
    afresh, _ = pull_all(client, _phone(client, cw.users["handler"], "handler-phone-2"))
    fresh, kept = things(afresh, "task")[handle["id"]], things(followed, "task")[handle["id"]]
    assert (fresh["version"], fresh["data"]) == (kept["version"], kept["data"])


def test_a_phone_starting_afresh_holds_the_merged_duplicates_a_following_phone_holds(
    client, auth, session, world
):
    """A merged duplicate ends ``rejected`` with no ``closed_at``: it is in the snapshot
    while recently changed, as it is on a phone that followed the feed."""
    cw = cf.make_case_world(session, world)
    following = _phone(client, cw.users["inspector"], "inspector-phone-1")
    _, cursor = pull_all(client, following)
    duplicate = cf.report(client, auth("inspector"), cw.category)
    kept = cf.report(client, auth("inspector"), cw.category, location=cf.cell(0, 1))
    response = client.post(
        f"/api/v1/cases/{duplicate['id']}/merge",
        json={"into": kept["id"]},
        headers=auth("dispatcher"),
    )
    assert response.status_code == 200, response.get_json()
    followed, _ = pull_all(client, following, cursor)
    afresh, _ = pull_all(client, _phone(client, cw.users["inspector"], "inspector-phone-2"))
    assert things(followed, "case")[duplicate["id"]]["data"]["state"] == "rejected"
    for case_id in (duplicate["id"], kept["id"]):
        fresh, held = things(afresh, "case")[case_id], things(followed, "case")[case_id]
        assert (fresh["version"], fresh["data"]) == (held["version"], held["data"])
