"""What the domain names a stored entity by: its ids, never a key string."""

from dataclasses import dataclass


@dataclass(frozen=True)
class TeamRef:
    team_id: str


@dataclass(frozen=True)
class MemberRef:
    """A member of a team, with its membership budget (one item)."""

    team_id: str
    user_id: str


@dataclass(frozen=True)
class UserRef:
    user_id: str


@dataclass(frozen=True)
class KeyRef:
    token: str


Ref = TeamRef | MemberRef | UserRef | KeyRef
