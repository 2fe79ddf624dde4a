"""State keys: chaincode namespaces and the one limit on a stored key.

A chaincode's key `k` is stored as `chaincode/k`. The limit applies to that full stored
key, because that is what the state database's key column holds: the simulator refuses a
longer key when a chaincode writes it (step 1), and the validator marks a transaction
that writes one BAD_KEY (step 3), so no block can ever hold a write the database refuses.
"""

from __future__ import annotations

NAMESPACE_SEPARATOR = "/"
STATE_KEY_CHARS_MAX = 1024  # characters of a full stored key, namespace included


def namespaced(chaincode: str, key: str) -> str:
    return chaincode + NAMESPACE_SEPARATOR + key


def namespace_end(chaincode: str) -> str:
    """The first key after every key of the namespace (exclusive upper bound)."""
    return chaincode + chr(ord(NAMESPACE_SEPARATOR) + 1)


def stored_key_problem(full_key: str) -> str:
    """Why a full stored key cannot be written ("" when it can)."""
    if not isinstance(full_key, str) or not full_key:
        return "a state key is a non-empty string"
    if len(full_key) > STATE_KEY_CHARS_MAX:
        return f"a state key has at most {STATE_KEY_CHARS_MAX} characters with its namespace ({len(full_key)} given)"
    if "\x00" in full_key:
        return "a state key cannot hold NUL"
    try:
        full_key.encode("utf-8")
    except UnicodeEncodeError:
        return "a state key must be valid Unicode (no lone surrogates)"
    return ""
