"""Bulk approval order: requests that write the same account or asset are submitted one
after another (in one block they would conflict with each other: 10 top-ups of one user
gave 8 MVCC_READ_CONFLICT); independent groups go in parallel and share blocks."""

from __future__ import annotations

import json

from webapp.db import ReviewRequest


def touched_ids(req: ReviewRequest) -> set[str]:
    """The accounts and assets a request writes: requests sharing one are submitted one
    after another in a bulk approval (they would conflict with each other in one block)."""
    args = json.loads(req.args_json)
    positions = TOUCHED_ARGS.get(req.function, ())
    found = {str(args[i]) for i in positions if i < len(args)}
    found.add(req.requester)
    if req.counterparty:
        found.add(req.counterparty)
    return found


# Which arguments of each contract function name a user or an asset it writes.
TOUCHED_ARGS: dict[str, tuple[int, ...]] = {
    "userRegister": (1,),
    "userTopup": (0,),
    "deleteUser": (0,),
    "assetsEnroll": (1, 3),
    "assetsExchange": (0, 1, 2),
    "assetsCancel": (0, 1),
    "assetsReport": (0, 1, 2),
}


def conflict_groups(requests: list[ReviewRequest]) -> list[list[ReviewRequest]]:
    """Requests joined by any shared written id (transitively), each group in input order."""
    parent = list(range(len(requests)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, req in enumerate(requests):
        for key in touched_ids(req):
            if key in owner:
                parent[root(i)] = root(owner[key])
            else:
                owner[key] = i
    groups: dict[int, list[ReviewRequest]] = {}
    for i, req in enumerate(requests):
        groups.setdefault(root(i), []).append(req)
    return list(groups.values())
