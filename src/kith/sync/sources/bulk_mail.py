"""Mail that is no conversation with a person: newsletters, mailing lists, notifications.

One rule for every mail source (an mbox file, the Gmail connector): such mail
creates no contact and owes no reply, so the sources skip it and count it on
the run. It is recognised by what list software and bulk senders put in the
headers (RFC 2369 / RFC 2919 list headers, `Precedence`), or by a sender
address that says nobody reads replies. A tenant's setting turns the rule off
(tenants.skip_bulk_mail).

Pure: headers in, a reason (or None) out; no I/O, no state.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["bulk_mail_reason", "unattended_address"]

_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
# The local part of a sender nobody reads replies to: noreply@, no-reply+x@, do_not_reply@, notifications@,
# notification-abc@, mailer-daemon@ ... (a separator or the end after the word, so "notifyme" stays a person).
_UNATTENDED_SENDER = re.compile(
    r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|notifications?|notify|mailer[-_.]?daemon|postmaster|bounces?)"
    r"(?:[-_.+].*)?$",
    re.IGNORECASE,
)


def unattended_address(address: str | None) -> bool:
    """Whether nobody reads mail sent to this address (noreply@, notifications@, mailer-daemon@ ...)."""
    local_part = (address or "").rpartition("@")[0]
    return bool(local_part and _UNATTENDED_SENDER.match(local_part))


def bulk_mail_reason(headers: Mapping[str, str], sender: str | None) -> str | None:
    """Why a message is bulk mail, or None when it is mail from a person.

    `headers` maps lowercased header names to their (first) value; `sender` is
    the From address. The reason names the evidence: "List-Id",
    "List-Unsubscribe", "Precedence: bulk" (or list, junk), "no-reply sender".
    """
    if headers.get("list-id"):
        return "List-Id"
    if headers.get("list-unsubscribe"):
        return "List-Unsubscribe"
    precedence = (headers.get("precedence") or "").strip().lower()
    if precedence in _BULK_PRECEDENCE:
        return f"Precedence: {precedence}"
    if unattended_address(sender):
        return "no-reply sender"
    return None
