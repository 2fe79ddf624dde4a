"""The power-data contract's refusal codes and limits: one table shared by the contract and its model.

A refusal is an expected business outcome, returned to the client as `ChaincodeRefusal(code,
message)`; the code is stable and is what tests, the console and the model compare.

Order of checks (the contract and the model both follow it, so a call that breaks several
rules gets the same code from both):
  1. shim: UNKNOWN_FUNCTION, BAD_ARGUMENTS (argument count)
  2. write functions: MISSING_ADMIN_APPROVAL
  3. argument formats, in parameter order: INVALID_NAME, INVALID_ID, INVALID_METADATA,
     INVALID_AMOUNT, INVALID_VALUE, INVALID_QUERY_TYPE
  4. records, in parameter order: USER_EXISTS / USER_NOT_FOUND / USER_DELETED,
     ASSET_EXISTS / ASSET_NOT_FOUND
  5. signatures: NOT_AUTHORIZED (the acting user did not sign); assetsExchange checks
     SAME_USER just before it, once both users are loaded
  6. business rules of the function (see each function's docstring)
"""

from __future__ import annotations

from enum import StrEnum

from chaincode import shim

NAME_LENGTH_MAX = 64  # characters, userName and assetName
ID_LENGTH_MAX = 64  # characters, userId and assetId
ID_PATTERN = r"[A-Za-z0-9_.-]{1,64}"
METADATA_BYTES_MAX = 64 * 1024  # UTF-8 bytes of an asset's metadata string
AMOUNT_MAX = 10**12  # largest single top-up and largest asset Value
BALANCE_MAX = 2**53 - 1  # a balance stays exact in JavaScript clients
AMOUNT_DIGITS_MAX = 13  # digits accepted in an amount string before parsing
FIRST_ISSUE_TAG = "firstIssueTag"  # OriginalOwnerId of an enrollment entry; never a user id
QUERY_TYPES = ("enroll", "exchange", "all")
HISTORY_ENTRIES_MAX = 10_000  # entries read for one asset's history
LIST_ASSETS_MAX = 200  # assets returned by one listAssets page
# Pending credits read for one user (a fold or queryUser). The ledger refuses a range scan of
# more keys (RANGE_TOO_LARGE), so a publisher must fold (any own transaction, e.g. a top-up)
# before this many copies of its assets are sold.
PENDING_CREDITS_MAX = 10_000


class Code(StrEnum):
    """Every refusal of the power-data contract; the value is the wire code."""

    UNKNOWN_FUNCTION = shim.UNKNOWN_FUNCTION
    BAD_ARGUMENTS = shim.BAD_ARGUMENTS
    MISSING_ADMIN_APPROVAL = "MISSING_ADMIN_APPROVAL"
    INVALID_NAME = "INVALID_NAME"
    INVALID_ID = "INVALID_ID"
    INVALID_METADATA = "INVALID_METADATA"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    INVALID_VALUE = "INVALID_VALUE"
    INVALID_QUERY_TYPE = "INVALID_QUERY_TYPE"
    USER_EXISTS = "USER_EXISTS"
    USER_NOT_FOUND = "USER_NOT_FOUND"
    USER_DELETED = "USER_DELETED"
    ASSET_EXISTS = "ASSET_EXISTS"
    ASSET_NOT_FOUND = "ASSET_NOT_FOUND"
    NOT_AUTHORIZED = "NOT_AUTHORIZED"
    MISSING_CONSENT = "MISSING_CONSENT"
    BALANCE_LIMIT = "BALANCE_LIMIT"
    DUPLICATE_CONTENT = "DUPLICATE_CONTENT"
    SAME_USER = "SAME_USER"
    ASSET_NOT_ON_SALE = "ASSET_NOT_ON_SALE"
    ALREADY_HOLDS = "ALREADY_HOLDS"
    BUYER_IS_ISSUER = "BUYER_IS_ISSUER"
    SELLER_DOES_NOT_HOLD = "SELLER_DOES_NOT_HOLD"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    NOT_ISSUER = "NOT_ISSUER"
    REPORT_NOT_UPHELD = "REPORT_NOT_UPHELD"


WRITE_FUNCTIONS = ("userRegister", "userTopup", "deleteUser", "assetsEnroll", "assetsExchange", "assetsCancel", "assetsReport")
QUERY_FUNCTIONS = ("queryUser", "queryAsset", "assetsExchangeHistory", "listAssets")
