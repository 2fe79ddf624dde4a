"""Client-side tools of the metering chaincode: meter keys, load simulation, settlement, CLI."""
