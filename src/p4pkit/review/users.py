"""Review users, their roles, and password checks (Argon2id hashes via argon2-cffi).

Roles decide what a user may do to a run:
- `program_admin` runs the program: registers runs, opens and closes review, resolves disputes,
  applies corrections, finalizes, pays and publishes;
- `clinician` and `practice_manager` review their results: file disputes and exceptions, comment;
- `public` sees published results only.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from p4pkit.errors import UserError
from p4pkit.review.audit import record_event
from p4pkit.review.models import ROLES, User

MIN_PASSWORD_LENGTH = 12
#: argon2-cffi's defaults (Argon2id, RFC 9106's low-memory profile). Tests swap in a cheaper hasher;
#: a deployment may tune it to its hardware. Hashes made with other parameters are still verified,
#: and replaced at the next successful login.
HASHER = PasswordHasher()


class PermissionDenied(UserError):
    """The user's role does not allow the action."""


def create_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    clinician_id: str | None = None,
    organization_id: str | None = None,
    *,
    created_by: str = "system",
) -> User:
    """Add a user with an Argon2 hash of the password (the password itself is never stored).

    A clinician must name the clinician they are (`clinician_id`) and a practice manager their
    organization, so the portal can show each only their own results.
    """
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}", hint=f"Use one of: {', '.join(ROLES)}.")
    if not username or not username.strip():
        raise UserError("a username cannot be empty")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password is shorter than {MIN_PASSWORD_LENGTH} characters", hint="Choose a longer password.")
    if role == "clinician" and not clinician_id:
        raise UserError("a clinician user needs a clinician_id", hint="Give the clinician's identifier (e.g. the NPI).")
    if role == "practice_manager" and not organization_id:
        raise UserError("a practice_manager user needs an organization_id", hint="Give the practice's identifier (e.g. the TIN).")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError(f"user {username!r} already exists", hint="Choose another username.")
    user = User(
        username=username,
        password_hash=HASHER.hash(password),
        role=role,
        clinician_id=clinician_id,
        organization_id=organization_id,
    )
    session.add(user)
    session.flush()
    record_event(session, created_by, "user.create", "user", user.id, detail={"username": username, "role": role})
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The user whose password this is, or None. Rehashes the stored hash when parameters changed."""
    user = session.scalar(select(User).where(User.username == username))
    try:
        HASHER.verify(_dummy_hash(HASHER) if user is None else user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = HASHER.hash(password)
    return user


@cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    # Verified against when the username is unknown, so a wrong name takes as long as a wrong
    # password and response times do not reveal which usernames exist.
    return hasher.hash("p4pkit-no-such-user")


def require_role(user: User, roles: tuple[str, ...], action: str) -> None:
    """Raise `PermissionDenied` unless the user holds one of `roles`."""
    if user.role not in roles:
        raise PermissionDenied(
            f"{user.username} ({user.role}) may not {action}",
            hint=f"Only {' or '.join(roles)} users may {action}.",
        )
