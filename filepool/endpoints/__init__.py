"""One module per protocol; each knows its connection type, its errors and nothing about the ledger."""
