"""/api/dev/mailbox: every message in the outbox, newest first, bodies included.

Development only: ``create_app`` mounts this router when AUTHFLOW_ENV is set to
``development`` (set, not merely defaulted: a deployment that forgot the variable must
not get it), so elsewhere these paths are unknown (404) and absent from the OpenAPI schema.
There is deliberately no authentication: the mailbox is the developer's view of all that
was sent, read by someone who often cannot sign in yet (a reset link, a confirmation for
an address typed in another browser). That is acceptable only because a development API
runs on the developer's own machine with throwaway accounts; the mailbox shows every link
to every account, so it must never be reachable anywhere else.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from authflow.db import SessionDep
from authflow.dev_mailbox import service as mailbox_service
from authflow.dev_mailbox.schemas import MailboxMessage, MailboxMessageDetail
from authflow.errors import ErrorResponse
from authflow.models import EmailOutbox

router = APIRouter(
    prefix="/api/dev/mailbox",
    tags=["dev-mailbox"],
    responses={422: {"model": ErrorResponse}},
)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def _summary(message: EmailOutbox) -> dict[str, object]:
    return {
        "id": message.id,
        "kind": message.kind,
        "to_address": message.to_address,
        "subject": message.subject,
        "created_at": message.created_at,
        "status": mailbox_service.status_of(message),
        "attempts": message.attempts,
        "last_error": message.last_error,
    }


@router.get("", response_model=list[MailboxMessage])
async def dev_mailbox_list(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> list[MailboxMessage]:
    """The most recently queued messages, newest first, whatever their delivery status."""
    messages = await mailbox_service.newest(session, limit=limit)
    return [MailboxMessage.model_validate(_summary(m)) for m in messages]


@router.get(
    "/{message_id}",
    response_model=MailboxMessageDetail,
    responses={404: {"model": ErrorResponse}},
)
async def dev_mailbox_message(message_id: uuid.UUID, session: SessionDep) -> MailboxMessageDetail:
    """One message with its plain-text and HTML parts."""
    message = await mailbox_service.get(session, message_id=message_id)
    return MailboxMessageDetail.model_validate(
        {**_summary(message), "text_body": message.text_body, "html_body": message.html_body}
    )
