"""Lambda SnapStart (template.yaml's EnableSnapStart): what a function does before its
initialized environment is snapshotted, and after each restore of it.

A snapshot is restored in many environments, so nothing unique may be carried across it:
- `random`'s state would be the same in every restored environment: the counter shards and
  retry jitter would collide. It is reseeded after each restore. (Tokens and ids come from
  `secrets` and `uuid4`, which read the OS's randomness on every call.)
- The DynamoDB client's pooled connections point at sockets of the snapshotted environment:
  they are dropped after each restore, and the next call opens a fresh one.
Before the snapshot, the function does what its first request would (builds its routes'
validators, creates its DynamoDB client), so a restored environment starts warm.

Lambda runs the hooks only when it takes snapshots (AWS_LAMBDA_INITIALIZATION_TYPE is
`snap-start` during such an init); elsewhere nothing is registered.
"""

import os
import random
from collections.abc import Callable

SNAP_START = "snap-start"


def on_snapshot(prepare: Callable[[], None]) -> bool:
    """Register `prepare` to run before the snapshot and the restore hook after it; whether
    this init is one Lambda snapshots."""
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != SNAP_START:
        return False
    # The Lambda python3.12 runtime's own module (not on PyPI).
    from snapshot_restore_py import (  # type: ignore[import-not-found]
        register_after_restore,
        register_before_snapshot,
    )

    register_before_snapshot(prepare)
    register_after_restore(after_restore)
    return True


def after_restore() -> None:
    random.seed()
    from teamledger.store import client

    client.drop_connections()
