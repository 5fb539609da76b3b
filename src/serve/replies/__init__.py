"""Reply suggestions and the answer queue (see docs/replies.md); one concept per module."""

from triage.serve.replies.book import (
    DRAFT_LANG_FOR_OTHER,
    REPLIES_ENV,
    ReplyBook,
    Suggestion,
    default_replies_dir,
)
from triage.serve.replies.names import sanitize_name
from triage.serve.replies.settings import COMPLAINTS, PRIORITIES, ReplyConfigError, ReplySettings
from triage.serve.replies.subcases import SUBCASES

__all__ = [
    "COMPLAINTS",
    "DRAFT_LANG_FOR_OTHER",
    "PRIORITIES",
    "REPLIES_ENV",
    "SUBCASES",
    "ReplyBook",
    "ReplyConfigError",
    "ReplySettings",
    "Suggestion",
    "default_replies_dir",
    "sanitize_name",
]
