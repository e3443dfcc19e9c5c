"""The image store: the contract between the preprocessing job that writes it and everything
that reads it (train, inspect, run, evaluate). See store/contract.py and docs/store-format.md."""
