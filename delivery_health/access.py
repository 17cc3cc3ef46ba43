"""Who may see a hosted instance: the email/domain allow-list applied after an OIDC login."""

from __future__ import annotations

from collections.abc import Iterable


def is_allowed(email: str | None, emails: Iterable[str], domains: Iterable[str]) -> bool:
    """True when ``email`` is on the allow-list, by address or by domain (case-insensitive).

    An empty allow-list admits nobody: a hosted instance must say who may see it.
    """
    if not email or "@" not in email:
        return False
    address = email.strip().lower()
    domain = address.rsplit("@", 1)[1]
    if address in {e.strip().lower() for e in emails if e.strip()}:
        return True
    return domain in {d.strip().lower().lstrip("@") for d in domains if d.strip()}
