"""Field mapping: title, description layout, bucket, due date in the store's time zone, status."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from tasks_sim import make_context, make_store_task

from shared.domain.tasks import TaskStatus
from shared.tasks import ZoneSource, desired_planner_task, due_datetime, percent_of, status_of, store_zone


def test_title_bucket_and_assignee_come_from_the_store_task_and_its_list() -> None:
    want = desired_planner_task(make_store_task(assigned_to="000101"), make_context())
    assert want.title == "Count the safe"
    assert want.bucket == "Opening checklist"
    assert want.assignee_ids == frozenset({"u-ann"})
    assert want.percent_complete == 0


def test_unassigned_task_is_store_wide() -> None:
    assert desired_planner_task(make_store_task(), make_context()).assignee_ids == frozenset()


def test_worker_without_entra_user_is_left_unassigned_and_says_so() -> None:
    want = desired_planner_task(make_store_task(assigned_to="000999"), make_context())
    assert want.assignee_ids == frozenset()
    assert any("000999" in p for p in want.problems)


def test_description_layout_is_notes_contact_link_and_footer() -> None:
    want = desired_planner_task(make_store_task(), make_context())
    assert want.description == (
        "Before the store opens.\n\n"
        "Contact: Dana Store (000777)\n"
        "Link: https://contoso.example/tasks/count-safe\n\n"
        "Commerce task TL-7/1@0042 - edits made here are replaced by Commerce."
    )


def test_description_without_notes_contact_or_link_is_just_the_footer() -> None:
    want = desired_planner_task(make_store_task(notes=""), make_context(definition=None))
    assert want.description == "Commerce task TL-7/1@0042 - edits made here are replaced by Commerce."


def test_bucket_falls_back_to_the_list_id_without_a_list_name() -> None:
    assert desired_planner_task(make_store_task(), make_context(list_name=None)).bucket == "TL-7"


@pytest.mark.parametrize(
    ("target", "expected_utc"),
    [
        (date(2024, 3, 6), datetime(2024, 3, 8, 20, 0, tzinfo=UTC)),  # due 8 March: PST, UTC-8
        (date(2024, 3, 8), datetime(2024, 3, 10, 19, 0, tzinfo=UTC)),  # due 10 March = DST starts: PDT
        (date(2024, 10, 31), datetime(2024, 11, 2, 19, 0, tzinfo=UTC)),  # due 2 Nov: still PDT
        (date(2024, 11, 1), datetime(2024, 11, 3, 20, 0, tzinfo=UTC)),  # due 3 Nov = DST ends: PST
    ],
)
def test_due_date_is_target_plus_offset_at_noon_in_the_store_zone_across_dst(
    target: date, expected_utc: datetime
) -> None:
    want = desired_planner_task(make_store_task(target_date=target), make_context())
    assert want.due == expected_utc


def test_due_date_in_a_european_store_across_the_october_change() -> None:
    zone = store_zone("W. Europe Standard Time")
    assert due_datetime(date(2024, 10, 26), zone, 12) == datetime(2024, 10, 26, 10, 0, tzinfo=UTC)
    assert due_datetime(date(2024, 10, 28), zone, 12) == datetime(2024, 10, 28, 11, 0, tzinfo=UTC)


def test_commerce_due_date_wins_over_target_plus_offset() -> None:
    want = desired_planner_task(make_store_task(due_date=date(2024, 4, 1)), make_context(time_zone="UTC"))
    assert want.due == datetime(2024, 4, 1, 12, 0, tzinfo=UTC)


def test_no_target_and_no_due_date_means_no_due_date() -> None:
    assert desired_planner_task(make_store_task(target_date=None), make_context()).due is None


@pytest.mark.parametrize(
    ("name", "iana", "source"),
    [
        ("Pacific Standard Time", "America/Los_Angeles", ZoneSource.WINDOWS),
        ("eastern standard time", "America/New_York", ZoneSource.WINDOWS),
        ("GMTMINUS0800PACIFICTIME", "America/Los_Angeles", ZoneSource.FO_ENUM),
        ("GMTPLUS0100_AMSTERDAM_BERLIN_BERN_ROME", "Europe/Berlin", ZoneSource.FO_ENUM),
        ("Europe/Paris", "Europe/Paris", ZoneSource.IANA),
        ("UTC", "Etc/UTC", ZoneSource.WINDOWS),
        ("Mars Standard Time", "UTC", ZoneSource.FALLBACK),
        (None, "UTC", ZoneSource.FALLBACK),
    ],
)
def test_store_time_zone_names_windows_fo_enum_iana_and_fallback(
    name: str | None, iana: str, source: ZoneSource
) -> None:
    zone = store_zone(name)
    assert (zone.zone.key, zone.source) == (iana, source)


def test_unknown_store_zone_falls_back_and_is_reported() -> None:
    want = desired_planner_task(make_store_task(), make_context(time_zone="Mars Standard Time"))
    assert want.due == datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
    assert any("Mars Standard Time" in p for p in want.problems)


@pytest.mark.parametrize(
    ("percent", "status"),
    [
        (0, TaskStatus.NOT_STARTED),
        (1, TaskStatus.IN_PROGRESS),
        (50, TaskStatus.IN_PROGRESS),
        (99, TaskStatus.IN_PROGRESS),
        (100, TaskStatus.COMPLETED),
    ],
)
def test_percent_complete_maps_to_status(percent: int, status: TaskStatus) -> None:
    assert status_of(percent) is status


def test_status_maps_to_0_50_100_and_canceled_has_no_percent() -> None:
    assert [
        percent_of(s) for s in (TaskStatus.NOT_STARTED, TaskStatus.IN_PROGRESS, TaskStatus.COMPLETED)
    ] == [0, 50, 100]
    with pytest.raises(ValueError, match="canceled"):
        percent_of(TaskStatus.CANCELED)
