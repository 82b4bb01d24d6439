"""Fault injection on the local rehearsal: the controller killed at every phase boundary and in
every wait, servers going down, DTS misbehaving or restarting, the write budget spent
(docs/faults.md)."""
