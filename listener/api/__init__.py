"""The gRPC services of a listener: Fleet for clients (fleet.py), Peer for other listeners
(peer.py), the bearer-token check in front of both (auth.py), and the conditions a write may
wait for (waits.py).

Every request is validated before anything changes; a bad one is refused with
INVALID_ARGUMENT naming the field and the rule, and leaves the state as it was. The services
read through the replica's queries, judge health through Health, change state only through
the Writer, and hand peers' calls to the replication protocol: they never reach further in.
"""
