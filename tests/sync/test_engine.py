"""Push orchestration: order, exactly-once, isolation, outcomes kept."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from sync.engine import Limits, PushInterrupted, push
from sync.envelope import EnvelopeError
from sync.memory import MemoryStore
from sync.outcomes import Status
from tests.sync.fieldwork import Server, User, body, ident, mutation, report_args

ALICE = User(1)
BOB = User(2)
PHONE = "phone-alice"
CASE = ident(100)
TASK = ident(200)


def report(mid, case=CASE, text="路边暴露垃圾", **kw):
    return mutation(mid, "report.create", case, report_args(text), **kw)


def comment(mid, text="好", case=CASE, comment_id=None, **kw):
    args = {"case_id": case, "text": text}
    return mutation(mid, "comment.add", comment_id or ident(1000 + mid), args, **kw)


def complete(mid, task=TASK, **kw):
    args = {"action": "complete", "note": "已清理"}
    return mutation(mid, "task.update", task, args, base=1, **kw)


def edit(mid, field, base, new, *, case=CASE, version=1):
    args = {"fields": {field: {"base": base, "new": new}}}
    return mutation(mid, "case.edit", case, args, base=version)


def statuses(result):
    return [r.status.value for r in result.results]


def test_a_first_push_applies_everything_in_mid_order(server):
    result = server.push(ALICE, PHONE, report(1), comment(2), comment(3))
    assert statuses(result) == ["applied"] * 3
    assert result.last_mid == 3
    assert server.work.applied == [(PHONE, 1), (PHONE, 2), (PHONE, 3)]
    first = result.results[0]
    assert (first.entity_type, str(first.entity_id), first.version) == ("case", CASE, 1)


def test_the_response_has_the_shape_of_the_api(server):
    result = server.push(ALICE, PHONE, report(1))
    assert result.as_json() == {
        "last_mid": 1,
        "results": [
            {
                "mid": 1,
                "status": "applied",
                "entity_type": "case",
                "entity_id": CASE,
                "version": 1,
                "conflict_id": None,
                "reason": None,
            }
        ],
        "complete": True,
    }


def test_an_empty_push_tells_the_phone_its_last_mid(server):
    server.push(ALICE, PHONE, report(1), comment(2))
    assert server.push(ALICE, PHONE).as_json() == {
        "last_mid": 2,
        "results": [],
        "complete": True,
    }


class Ticks:
    """A clock that moves one second each time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_a_push_past_its_budget_answers_the_decided_prefix_and_the_resend_finishes(server):
    batch = [report(1)] + [comment(mid, text=f"第{mid}条") for mid in range(2, 9)]
    limits = Limits(budget=2.5)
    first = server.push(ALICE, PHONE, *batch, limits=limits, clock=Ticks())
    assert not first.complete and first.as_json()["complete"] is False
    assert 1 <= len(first.results) < len(batch)
    assert statuses(first) == ["applied"] * len(first.results)
    assert first.last_mid == first.results[-1].mid
    # The phone sends what had no answer (or the whole batch again): nothing twice.
    second = server.push(ALICE, PHONE, *batch, limits=Limits(), clock=Ticks())
    assert second.complete and second.last_mid == 8
    assert statuses(second)[: len(first.results)] == ["duplicate"] * len(first.results)
    assert server.work.applied == [(PHONE, mid) for mid in range(1, 9)]


def test_a_spent_budget_still_decides_one_new_mutation_so_the_queue_moves(server):
    batch = [report(1), comment(2), comment(3, text="再")]
    result = server.push(ALICE, PHONE, *batch, limits=Limits(budget=0.0), clock=Ticks())
    assert (statuses(result), result.last_mid, result.complete) == (["applied"], 1, False)
    # Answers that need no work come back in full, however spent the budget is.
    again = server.push(ALICE, PHONE, *batch, limits=Limits(budget=0.0), clock=Ticks())
    assert statuses(again) == ["duplicate", "applied"] and not again.complete


def test_runs_of_reports_are_stopped_between_runs_not_inside_one(server):
    batch = [report(1, case=ident(11)), report(2, case=ident(12)), comment(3, case=ident(12))]
    batch += [report(4, case=ident(14)), report(5, case=ident(15))]
    result = server.push(
        ALICE, PHONE, *batch, limits=Limits(budget=0.5), together=True, clock=Ticks()
    )
    assert statuses(result) == ["applied", "applied"] and not result.complete
    rest = server.push(ALICE, PHONE, *batch, together=True)
    assert statuses(rest) == ["duplicate"] * 2 + ["applied"] * 3 and rest.complete


def test_a_whole_batch_sent_again_is_duplicates_with_the_first_results(server):
    batch = (report(1), comment(2), mutation(3, "case.delete", CASE, {}))
    first = server.push(ALICE, PHONE, *batch)
    again = server.push(ALICE, PHONE, *batch)
    assert statuses(again) == ["duplicate"] * 3
    for before, after in zip(first.results, again.results, strict=True):
        assert after.original_status is before.status
        assert (after.entity_id, after.version, after.reason) == (
            before.entity_id,
            before.version,
            before.reason,
        )
    assert again.last_mid == 3
    assert server.work.applied == [(PHONE, 1), (PHONE, 2)]


def test_an_overlapping_batch_applies_only_what_is_new(server):
    server.push(ALICE, PHONE, report(1), comment(2))
    result = server.push(ALICE, PHONE, comment(2), comment(3), comment(4))
    assert statuses(result) == ["duplicate", "applied", "applied"]
    assert [mid for _, mid in server.work.applied] == [1, 2, 3, 4]


def test_a_gap_applies_nothing_from_there_on_and_names_the_expected_mid(server):
    server.push(ALICE, PHONE, report(1))
    result = server.push(ALICE, PHONE, comment(2), comment(4), comment(5))
    assert statuses(result) == ["applied", "gap", "gap"]
    assert {r.reason for r in result.results[1:]} == {"expected_mid:3"}
    assert {r.expected_mid for r in result.results[1:]} == {3}
    assert result.last_mid == 2
    result = server.push(ALICE, PHONE, comment(3), comment(4), comment(5))
    assert statuses(result) == ["applied"] * 3
    assert [mid for _, mid in server.work.applied] == [1, 2, 3, 4, 5]


def test_a_first_push_that_does_not_start_at_one_is_a_gap(server):
    result = server.push(ALICE, PHONE, comment(2))
    assert (statuses(result), result.results[0].reason) == (["gap"], "expected_mid:1")
    assert server.store.recorded(PHONE) == []


def test_a_malformed_mutation_is_rejected_advances_the_counter_and_keeps_its_payload(server):
    bad = mutation(2, "comment.add", CASE, {"case_id": CASE, "text": ""})
    result = server.push(ALICE, PHONE, report(1), bad, comment(3))
    assert statuses(result) == ["applied", "rejected", "applied"]
    assert result.results[1].reason == "validation"
    assert result.last_mid == 3
    kept = server.store.recorded(PHONE)[1]
    assert (kept.outcome.status, kept.item.payload) == (Status.REJECTED, bad)


def test_an_unknown_type_is_rejected_not_a_request_error(server):
    result = server.push(ALICE, PHONE, mutation(1, "case.delete", CASE, {}))
    assert (statuses(result), result.results[0].reason) == (["rejected"], "unknown_type")
    assert result.results[0].entity_id is not None


def test_a_reused_mid_with_other_content_is_rejected_and_the_first_stands(server):
    server.push(ALICE, PHONE, report(1), comment(2, "原来的"))
    result = server.push(ALICE, PHONE, comment(2, "另一条"))
    assert (statuses(result), result.results[0].reason) == (["rejected"], "mid_reused")
    assert result.last_mid == 2
    assert server.store.recorded(PHONE)[1].item.args["text"] == "原来的"
    ((device, stray, reason),) = server.store.strays
    assert (device, stray.args["text"], reason) == (PHONE, "另一条", "mid_reused")


def test_client_ts_does_not_make_a_resend_a_reused_mid(server):
    first = server.push(ALICE, PHONE, report(1))
    again = server.push(ALICE, PHONE, report(1, skew_hours=24 * 9))
    assert statuses(again) == ["duplicate"]
    assert again.results[0].original_status is first.results[0].status


def test_a_move_no_longer_legal_is_a_conflict_that_keeps_the_field_work(server):
    server.server("assign_task", TASK, to=ALICE.id)
    server.server("reassign_task", TASK, to=BOB.id)
    result = server.push(ALICE, PHONE, complete(1))
    (outcome,) = result.results
    assert (outcome.status, outcome.reason) == (Status.CONFLICT, "task_reassigned")
    assert result.last_mid == 1
    kept = server.store.conflicts[outcome.conflict_id]
    assert kept.mutation.args["note"] == "已清理"
    assert server.work.tasks[TASK]["state"] == "open"
    assert server.work.applied == []


def test_a_legal_move_applies_however_old_its_base_version(server):
    server.server("assign_task", TASK, to=ALICE.id)
    server.server("reassign_task", TASK, to=BOB.id)
    server.server("reassign_task", TASK, to=ALICE.id)
    result = server.push(ALICE, PHONE, complete(1))
    assert statuses(result) == ["applied"]
    assert server.work.tasks[TASK]["state"] == "completed"


def test_the_same_move_from_two_phones_of_one_user_applies_once(server):
    server.server("assign_task", TASK, to=ALICE.id)
    first = server.push(ALICE, "phone-a", complete(1))
    second = server.push(ALICE, "phone-b", complete(1))
    assert statuses(first) == statuses(second) == ["applied"]
    assert first.results[0].version == second.results[0].version == 2


def test_a_cancelled_task_is_a_conflict(server):
    server.server("assign_task", TASK, to=ALICE.id)
    server.server("cancel_task", TASK)
    (outcome,) = server.push(ALICE, PHONE, complete(1)).results
    assert (outcome.status, outcome.reason) == (Status.CONFLICT, "task_cancelled")


def test_a_closed_case_is_not_reopened_by_a_stale_self_handle(server):
    server.push(ALICE, PHONE, report(1))
    server.server("close_case", CASE)
    photos = [{"photo_id": ident(7), "sha256": "cd" * 32, "kind": "closure"}]
    move = mutation(2, "case.self_handle", CASE, {"photos": photos}, base=1)
    (outcome,) = server.push(ALICE, PHONE, move).results
    assert (outcome.status, outcome.reason) == (Status.CONFLICT, "wrong_state")
    assert server.work.cases[CASE]["state"] == "closed"


def test_a_refused_and_never_valid_mutation_is_rejected(server):
    result = server.push(ALICE, PHONE, complete(1, task=ident(999)))
    assert (statuses(result), result.results[0].reason) == (["rejected"], "not_found")
    assert server.store.conflicts == {}


def test_edits_to_different_fields_merge(server):
    server.push(ALICE, PHONE, report(1))
    server.server("edit_case", CASE, field="address", value="湖滨南路 8号")
    result = server.push(ALICE, PHONE, edit(2, "description", "路边暴露垃圾", "两袋垃圾"))
    assert statuses(result) == ["merged"]
    fields = server.work.cases[CASE]["fields"]
    assert (fields["address"], fields["description"]) == ("湖滨南路 8号", "两袋垃圾")


def test_two_values_for_one_field_are_a_conflict_and_the_server_value_stays(server):
    server.push(ALICE, PHONE, report(1))
    server.server("edit_case", CASE, field="description", value="一堆垃圾")
    (outcome,) = server.push(ALICE, PHONE, edit(2, "description", "路边暴露垃圾", "两袋")).results
    assert (outcome.status, outcome.reason) == (Status.CONFLICT, "field_conflict")
    assert server.work.cases[CASE]["fields"]["description"] == "一堆垃圾"
    assert server.store.conflicts[outcome.conflict_id].mutation.args["fields"]


def test_an_edit_to_a_deleted_case_is_edit_after_delete_with_its_payload(server):
    server.push(ALICE, PHONE, report(1))
    server.server("delete_case", CASE)
    (outcome,) = server.push(ALICE, PHONE, edit(2, "address", "思明区 湖滨南路", "x")).results
    assert (outcome.status, outcome.reason) == (Status.CONFLICT, "edit_after_delete")
    assert server.store.conflicts[outcome.conflict_id].mutation.mid == 2


def test_appended_things_sent_twice_under_new_mids_are_stored_once(server):
    server.push(ALICE, PHONE, report(1), comment(2, comment_id=ident(5)))
    result = server.push(ALICE, PHONE, comment(3, comment_id=ident(5)))
    assert statuses(result) == ["applied"]
    assert list(server.work.appended) == [ident(5)]


def test_a_transient_failure_ends_the_batch_without_advancing(server):
    server.work.fail_once.add((PHONE, 2))
    store = server.store
    with store.transaction(), pytest.raises(PushInterrupted) as caught:
        push(
            store,
            ALICE,
            PHONE,
            body(PHONE, report(1), comment(2), comment(3)),
            server.work.apply_for(ALICE, PHONE),
        )
    assert caught.value.mid == 2
    assert isinstance(caught.value.__cause__, ConnectionError)
    assert statuses(caught.value.result) == ["applied"]
    assert caught.value.result.last_mid == 1
    # The caller committed the prefix; the phone re-sends the batch.
    assert store.get_device_state(PHONE, ALICE).last_mid == 1
    result = server.push(ALICE, PHONE, report(1), comment(2), comment(3))
    assert statuses(result) == ["duplicate", "applied", "applied"]
    assert [mid for _, mid in server.work.applied] == [1, 2, 3]


def test_a_mutation_that_always_fails_is_rejected_after_max_attempts(server):
    server.work.fail_always.add(2)
    limits = Limits(max_attempts=3)
    batch = (report(1), comment(2), comment(3))
    for _ in range(2):
        assert statuses(server.push(ALICE, PHONE, *batch, limits=limits))[1:] == []
    result = server.push(ALICE, PHONE, *batch, limits=limits)
    assert statuses(result) == ["duplicate", "rejected", "applied"]
    assert result.results[1].reason == "apply_failed"
    assert server.store.recorded(PHONE)[1].item.args["text"] == "好"


def test_an_apply_that_returns_no_outcome_is_a_failure_not_a_record(server):
    store = server.store
    with store.transaction(), pytest.raises(PushInterrupted) as caught:
        push(store, ALICE, PHONE, body(PHONE, comment(1)), lambda m: None)
    assert isinstance(caught.value.__cause__, TypeError)
    assert store.recorded(PHONE) == []


def test_a_crash_before_commit_leaves_nothing_and_the_resend_applies(server):
    store = server.store
    with pytest.raises(KeyboardInterrupt), store.transaction():
        push(
            store,
            ALICE,
            PHONE,
            body(PHONE, report(1), comment(2)),
            server.work.apply_for(ALICE, PHONE),
        )
        raise KeyboardInterrupt  # the process dies before the commit
    assert store.get_device_state(PHONE, ALICE) is None
    assert server.work.applied == []
    assert statuses(server.push(ALICE, PHONE, report(1), comment(2))) == ["applied"] * 2


def test_an_outcome_past_retention_is_not_applied_again(server):
    server.push(ALICE, PHONE, report(1), comment(2), comment(3))
    with server.store.transaction():
        server.store.forget_outcomes(PHONE, 2)
    result = server.push(ALICE, PHONE, comment(2), comment(3), comment(4))
    assert statuses(result) == ["duplicate", "duplicate", "applied"]
    assert result.results[0].reason == "outcome_expired"
    assert [mid for _, mid in server.work.applied] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("raw", "code", "status"),
    [
        ({"device_id": PHONE, "mutations": "x"}, "mutations_not_a_list", 400),
        ({"device_id": "phone-other", "mutations": []}, "device_mismatch", 403),
    ],
)
def test_a_request_error_changes_nothing(raw, code, status):
    store = MemoryStore()
    with store.transaction(), pytest.raises(EnvelopeError) as caught:
        push(store, ALICE, PHONE, raw, lambda m: pytest.fail("applied"))
    assert (caught.value.code, caught.value.status) == (code, status)
    assert store.get_device_state(PHONE, ALICE) is None


def test_two_users_of_one_phone_each_have_their_own_queue(server):
    """A shared phone: Bob signs in on Alice's phone and starts his own mids at 1."""
    server.push(ALICE, PHONE, report(1), comment(2))
    bobs = server.push(BOB, PHONE, comment(1, text="鲍勃的", comment_id=ident(2001)))
    assert statuses(bobs) == ["applied"]
    assert bobs.last_mid == 1
    assert server.store.get_device_state(PHONE, ALICE).last_mid == 2
    assert server.store.get_device_state(PHONE, BOB).last_mid == 1
    # Each queue answers its own mids: Alice's mid 1 is her report, Bob's is his comment.
    assert statuses(server.push(ALICE, PHONE, report(1), comment(3))) == ["duplicate", "applied"]
    again = server.push(BOB, PHONE, comment(1, text="鲍勃的", comment_id=ident(2001)))
    assert statuses(again) == ["duplicate"]
    assert [r.item.mid for r in server.store.recorded(PHONE, BOB)] == [1]


def test_a_store_handing_out_another_users_queue_is_a_bug_not_a_refusal():
    class Confused(MemoryStore):
        def lock_device(self, device_id, user):
            state = super().lock_device(device_id, user)
            return dataclasses.replace(state, owner_id=BOB.id)

    store = Confused()
    with store.transaction(), pytest.raises(RuntimeError, match="queue"):
        push(store, ALICE, PHONE, body(PHONE, comment(1)), lambda m: pytest.fail("applied"))


def test_clock_skew_of_days_changes_no_outcome():
    def run(skew_hours):
        s = Server()
        s.server("assign_task", TASK, to=ALICE.id)
        batch = [
            report(1, skew_hours=skew_hours),
            comment(2, skew_hours=skew_hours),
            complete(3, skew_hours=skew_hours),
        ]
        s.server("cancel_task", TASK)
        return s.push(ALICE, PHONE, *batch).as_json()

    assert run(0) == run(24 * 5) == run(-24 * 5) == run(24 * 400)


def test_device_locks_are_per_device_never_global():
    store = MemoryStore()
    holding = threading.Event()
    release = threading.Event()
    events: list[str] = []

    def transaction(device_id, *, hold=False):
        with store.transaction():
            store.lock_device(device_id, ALICE)
            events.append(f"locked {device_id}")
            if hold:
                holding.set()
                release.wait(5)
        events.append(f"released {device_id}")

    first = threading.Thread(target=transaction, args=("phone-1",), kwargs={"hold": True})
    first.start()
    holding.wait(5)
    other = threading.Thread(target=transaction, args=("phone-2",))
    other.start()
    other.join(2)
    same = threading.Thread(target=transaction, args=("phone-1",))
    same.start()
    same.join(0.3)
    assert same.is_alive(), "a second push of one device waits for the first"
    release.set()
    for thread in (first, same):
        thread.join(5)
    assert events == [
        "locked phone-1",
        "locked phone-2",
        "released phone-2",
        "released phone-1",
        "locked phone-1",
        "released phone-1",
    ]


# -- runs of reports taken together (``apply_many``) ---------------------------------------


def _together(server, *mutations, calls=None):
    """Push with the batch path, counting how often it is called."""
    from tests.sync.fieldwork import Reports

    made = []
    real = Reports.__call__

    def counted(self, run):
        made.append([m.mid for m in run])
        return real(self, run)

    Reports.__call__ = counted
    try:
        result = server.push(ALICE, PHONE, *mutations, together=True)
    finally:
        Reports.__call__ = real
    return result, made


def test_a_run_of_new_reports_is_applied_in_one_call_and_recorded_like_one_by_one(server):
    result, calls = _together(
        server, report(1, ident(101)), report(2, ident(102)), report(3, ident(103))
    )
    assert statuses(result) == ["applied"] * 3
    assert (result.last_mid, calls) == (3, [[1, 2, 3]])
    assert server.work.applied == [(PHONE, 1), (PHONE, 2), (PHONE, 3)]
    again = server.push(ALICE, PHONE, report(1, ident(101)), report(3, ident(103)))
    assert statuses(again) == ["duplicate", "duplicate"]


def test_the_report_the_batch_stops_before_goes_one_by_one_and_the_rest_batches_again(server):
    server.push(ALICE, PHONE, report(1, ident(101)))
    replay = report(3, ident(101))  # the same case again: the one-by-one path answers it
    result, calls = _together(
        server, report(2, ident(102)), replay, report(4, ident(104)), report(5, ident(105))
    )
    assert statuses(result) == ["applied"] * 4
    assert calls == [[2, 3, 4, 5], [4, 5]]
    assert result.last_mid == 5


def test_other_mutations_and_invalid_ones_end_a_run(server):
    invalid = mutation(3, "report.create", ident(103), {"description": "no location"})
    result, calls = _together(
        server, report(1, ident(101)), comment(2, case=ident(101)), invalid, report(4, ident(104))
    )
    assert [(r.status.value, r.reason) for r in result.results][:3] == [
        ("applied", None),
        ("applied", None),
        ("rejected", "validation"),
    ]
    assert statuses(result)[3] == "applied"
    assert calls == [[1], [4]]


def test_a_failing_batch_is_rolled_back_and_its_run_goes_one_by_one(server):
    server.work.fail_once.add((PHONE, 2))
    batch = [report(1, ident(101)), report(2, ident(102)), report(3, ident(103))]
    result, calls = _together(server, *batch)
    assert calls == [[1, 2, 3]]
    assert statuses(result) == ["applied"], "mid 2 failed one by one too: the prefix is kept"
    assert server.work.applied == [(PHONE, 1)]
    again, _ = _together(server, *batch)
    assert statuses(again) == ["duplicate", "applied", "applied"]
    assert server.work.applied == [(PHONE, 1), (PHONE, 2), (PHONE, 3)]
