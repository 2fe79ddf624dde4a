"""The shim's canonical JSON: byte for byte the encoding the contract has always written.

`canonical_json` (msgspec) must give exactly what `json.dumps(sort_keys=True,
separators=(",", ":"), ensure_ascii=False).encode()` gives for every value a contract writes,
so state written before and after the switch, and by any peer, is the same bytes.
"""

from __future__ import annotations

import json
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from chaincode.shim import canonical_json, json_decode


def reference(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def test_every_code_point_in_values_and_keys_encodes_as_before() -> None:
    chars = [chr(cp) for cp in range(sys.maxunicode + 1) if not 0xD800 <= cp <= 0xDFFF]
    for start in range(0, len(chars), 4096):
        chunk = chars[start : start + 4096]
        assert canonical_json(chunk) == reference(chunk)
        keyed = {f"k{c}": c for c in chunk}
        assert canonical_json(keyed) == reference(keyed)


def test_records_as_the_contract_writes_them() -> None:
    value = {
        "Name": "Zähler \"Süd\" \\ \n\t\x00\x1f\x7f €𝄞",
        "Id": "u-1",
        "Assets": ["a", "b"],
        "Issues": [],
        "UnIssues": (),
        "Token": 2**53 - 1,
        "Deleted": False,
        "IsValid": True,
        "Report": None,
        "Nested": {"z": [{"b": 1, "a": -2}], "": 0, "é": 1, "e": 2, "𝄞": 3, "\uffff": 4},
        "Huge": [2**64, -(2**63) - 1, 10**40],
    }
    assert canonical_json(value) == reference(value)
    assert json_decode(canonical_json(value)) == json.loads(reference(value))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_value_without_floats_encodes_and_decodes_as_before(value: object) -> None:
    encoded = canonical_json(value)
    assert encoded == reference(value)
    assert json_decode(encoded) == json.loads(encoded) == value
