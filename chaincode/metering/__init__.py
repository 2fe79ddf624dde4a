"""The metering chaincode (SPEC section 6, issue 10): signed smart-meter readings, anomaly
alerts, versioned tariffs and monthly bills.

Entry point for the network configuration: `chaincode.metering.contract:MeteringContract`
with params `{"regulator_org": "Regulator"}`. Meters are identities of a grid organization
with role `meter`; the ledger knows nothing of them.
"""
