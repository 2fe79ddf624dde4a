"""The power-data asset chaincode (SPEC section 3): users, priced datasets, purchases, transfers.

Entry point for the network configuration: `chaincode.power_data.contract:PowerDataContract`
with params `{"approver_org": "Regulator"}`.
"""
