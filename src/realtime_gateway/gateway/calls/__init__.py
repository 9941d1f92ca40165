"""The call core: one record per call, one store (memory or Redis) whose atomic, retry-safe
operations admit, attach, meter and end it, and the service that makes calls with them.

    record.py        CallRecord, CallSpec: the one record of a call
    tokens.py        call tokens (`ek_rtg_...`) and their digests
    store.py         the store's interface and values; retention and grace constants
    memory_store.py  the leash's rules in Python (one process)
    redis_store.py   the same rules in Redis (scripts.py), shared by every replica
    redis_fleet.py   the reapers' index and the holders' registry in Redis
    service.py       admission with the failure mode, creating and ending calls
    offer.py         the caller's SDP offer
"""
