"""The metering contract's refusal codes and limits, in one place.

Order of checks in every function:
  1. shim: UNKNOWN_FUNCTION, BAD_ARGUMENTS (argument count)
  2. argument formats, in parameter order (BAD_ID, BAD_NUMBER, BAD_BATCH, BAD_TARIFF, ...)
  3. records: UNKNOWN_METER / METER_EXISTS / METER_RETIRED, UNKNOWN_TARIFF, UNKNOWN_ALERT
  4. who asks: NOT_METER_STAFF (a member of the meter's organization that is not its staff),
     NOT_AUTHORIZED (wrong organization or role), NOT_IN_SCOPE (a regulator's level)
  5. the function's own rules (signature, link, duplicates, completeness, ...)
"""

from __future__ import annotations

from enum import StrEnum

METER_ROLE = "meter"  # the certificate role of a meter identity
CUSTOMER_ROLE = "customer"  # a customer reader: attribute customerRef, reads only that customer's meters
# Meter data is personal (seed 004): inside a grid organization only its staff reads and writes
# it — its admins, and clients whose certificate carries STAFF_ATTRIBUTE with one of STAFF_KINDS
# (issued by the organization's CA at enrolment). Any other client of the organization (a
# researcher or customer who signed up on the console) is refused NOT_METER_STAFF.
STAFF_ATTRIBUTE = "staff"
COLLECTOR, OPERATOR = "collector", "operator"  # submits the meters' batches; works the alert queue
STAFF_KINDS = (COLLECTOR, OPERATOR)
ID_PATTERN = r"[A-Za-z0-9_-]{1,40}"  # meter, tariff ids: no "." (alert ids are joined with it)
REGION_PATTERN = r"[A-Z0-9]{1,8}(-[A-Z0-9]{1,8}){0,4}"  # hierarchical: CN, CN-32, CN-32-01
SHA256_HEX_PATTERN = r"[0-9a-f]{64}"
INTERVAL_MIN = 15  # one reading covers this many minutes
INTERVALS_PER_DAY = 24 * 60 // INTERVAL_MIN
BATCH_READINGS_MAX = INTERVALS_PER_DAY  # a batch is a day or less
BATCH_BYTES_MAX = 64 * 1024
READING_VALUE_MAX = 10**9  # Wh, varh or W in one interval
RATED_KW_MAX = 100_000
VOLTAGE_KV_MAX = 1_000
DECIMALS_MAX = 3  # digits after the point in ratedKw and voltageKv
CITY_VOLTAGE_V_MAX = 10_000  # a city regulator sees its region's meters at or below 10 kV
READINGS_SPAN_DAYS_MAX = 100  # queryReadings: 9,600 intervals stay under the ledger's range cap
BATCHES_MAX = 10_000  # verifyMeterChain reads at most this many batches (27 years of days)
LIST_MAX = 1_000  # meters or alerts in one list answer
PERIOD_READINGS_MAX = 31 * INTERVALS_PER_DAY
TARIFF_BYTES_MAX = 16 * 1024
TARIFF_BANDS_MAX = 12
TARIFF_TIERS_MAX = 8
PRICE_MAX = 10**7  # 1/10,000 CNY per kWh: 1,000 CNY/kWh
TARIFF_VERSIONS_MAX = 1_000
ALERT_ACK_HOURS = 2  # seed 004: the local team answers within 2 h
ALERT_ESCALATE_HOURS = 8  # then 8 h at the province


class Code(StrEnum):
    """Every refusal of the metering contract (stable: tests, CLI and console compare them)."""

    BAD_ID = "BAD_ID"
    BAD_NUMBER = "BAD_NUMBER"
    BAD_REGION = "BAD_REGION"
    BAD_HASH = "BAD_HASH"
    BAD_PERIOD = "BAD_PERIOD"
    BAD_TIME = "BAD_TIME"
    BAD_BATCH = "BAD_BATCH"
    BAD_READING = "BAD_READING"
    NEGATIVE_VALUE = "NEGATIVE_VALUE"
    MISALIGNED_INTERVAL = "MISALIGNED_INTERVAL"
    FUTURE_INTERVAL = "FUTURE_INTERVAL"
    BAD_TARIFF = "BAD_TARIFF"
    TARIFF_BANDS_INVALID = "TARIFF_BANDS_INVALID"
    UNKNOWN_METER = "UNKNOWN_METER"
    METER_EXISTS = "METER_EXISTS"
    METER_RETIRED = "METER_RETIRED"
    UNKNOWN_TARIFF = "UNKNOWN_TARIFF"
    TARIFF_NOT_EFFECTIVE = "TARIFF_NOT_EFFECTIVE"
    TARIFF_NOT_LATER = "TARIFF_NOT_LATER"
    UNKNOWN_ALERT = "UNKNOWN_ALERT"
    UNKNOWN_BILL = "UNKNOWN_BILL"
    UNKNOWN_BATCH = "UNKNOWN_BATCH"
    NOT_AUTHORIZED = "NOT_AUTHORIZED"
    NOT_IN_SCOPE = "NOT_IN_SCOPE"
    NOT_METER_STAFF = "NOT_METER_STAFF"
    BAD_METER_CERTIFICATE = "BAD_METER_CERTIFICATE"
    BAD_METER_SIGNATURE = "BAD_METER_SIGNATURE"
    BAD_BATCH_LINK = "BAD_BATCH_LINK"
    DUPLICATE_READING = "DUPLICATE_READING"
    ALERT_ALREADY_ACKED = "ALERT_ALREADY_ACKED"
    ALERT_RESOLVED = "ALERT_RESOLVED"
    BILL_EXISTS = "BILL_EXISTS"
    READINGS_INCOMPLETE = "READINGS_INCOMPLETE"
    BAD_RANGE = "BAD_RANGE"
