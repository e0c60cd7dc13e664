"""Cases in the change feed, with what a phone keeps of each: its tasks, photos and comments.

A case is filed under the keys of everyone it concerns: ``g:<unit grid>``, ``s:<street>``,
``r:<road>``, ``h:<shop>``, ``d:<department>`` and ``u:<user>`` of its reporters and of its
tasks' assignees (``feed_case``). Its photos and comments share its audience, and a photo
follows its case into and out of an audience (``feed_parts``). Who finally gets a case is
decided by the REST API's rule (``queries.visible_to``); the command centre reads the whole
feed.
"""

from __future__ import annotations

import uuid

from app.cases import feed_case, feed_parts
from app.cases.models import Case, CaseComment, CasePhoto, CaseReporter
from app.feed.registry import FeedType, Registry
from app.photos.models import Photo
from app.tasks.models import Task


def register(feed: Registry) -> None:
    """Serve cases, tasks, photos and comments, in that order in a snapshot; street and road
    chiefs and handlers hold their area's keys, and the command centre reads everything."""
    feed.add_reader_of_everything(feed_case.sees_every_case)
    feed.add_user_keys(feed_case.area_keys)
    feed.add_type(
        FeedType(
            name="case",
            parse_id=uuid.UUID,
            audience=feed_case.case_audience,
            visible=feed_case.visible,
            load=feed_case.load,
            snapshot=feed_case.snapshot,
            load_visible=feed_case.load_visible,
            followers=feed_case.photos_of,
        )
    )
    feed.add_type(
        FeedType(
            name="task",
            parse_id=uuid.UUID,
            audience=feed_parts.task_audience,
            visible=feed_parts.task_visible,
            load=feed_parts.task_load,
            snapshot=feed_parts.task_snapshot,
        )
    )
    feed.add_type(
        FeedType(
            name="photo",
            parse_id=uuid.UUID,
            audience=feed_parts.photo_audience,
            visible=feed_parts.photo_visible,
            load=feed_parts.photo_load,
            snapshot=feed_parts.photo_snapshot,
        )
    )
    feed.add_type(
        FeedType(
            name="comment",
            parse_id=uuid.UUID,
            audience=feed_parts.comment_audience,
            visible=feed_parts.comment_visible,
            load=feed_parts.comment_load,
            snapshot=feed_parts.comment_snapshot,
        )
    )
    feed.watch(Case, feed_case.case_changed)
    feed.watch(CaseReporter, feed_case.reporter_changed)
    feed.watch(Task, feed_parts.task_changed)
    feed.watch(Photo, feed_parts.photo_changed)
    feed.watch(CasePhoto, feed_parts.case_photo_changed)
    feed.watch(CaseComment, feed_parts.comment_changed)
