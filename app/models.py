"""Every domain's models, imported once so the metadata is whole (Alembic, tests)."""

from app.accounts import models as accounts_models
from app.assessment import models as assessment_models
from app.cameras import models as cameras_models
from app.cases import models as cases_models
from app.categories import models as categories_models
from app.core import models as core_models
from app.core.db import Base
from app.evidence import models as evidence_models
from app.feed import models as feed_models
from app.grids import models as grids_models
from app.hotline import models as hotline_models
from app.ledger import models as ledger_models
from app.merchants import models as merchants_models
from app.notifications import models as notifications_models
from app.open311 import models as open311_models
from app.orgunits import models as orgunits_models
from app.photos import models as photos_models
from app.pressing import models as pressing_models
from app.scheduler import models as scheduler_models
from app.sync_api import models as sync_api_models
from app.workcalendar import models as workcalendar_models

metadata = Base.metadata

__all__ = [
    "accounts_models",
    "assessment_models",
    "cameras_models",
    "cases_models",
    "categories_models",
    "core_models",
    "evidence_models",
    "feed_models",
    "grids_models",
    "hotline_models",
    "ledger_models",
    "merchants_models",
    "metadata",
    "notifications_models",
    "open311_models",
    "orgunits_models",
    "photos_models",
    "pressing_models",
    "scheduler_models",
    "sync_api_models",
    "workcalendar_models",
]
