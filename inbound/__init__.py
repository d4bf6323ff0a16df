"""The inbound service: vendor delivery events and customer replies, verified, persisted, then
forwarded to their cases (`python -m inbound`; docs/customer-loop.md)."""
