"""The request bodies a run keeps until its end, packed: a long body is kept compressed beside its exchange.

No judgement reads what was sent, only what came back; a request body is needed again only as the evidence
of a finding (its text, its curl command). A run sends a long value in every field (8 KB each), so 10,000
requests would otherwise hold some 10 MB of them until the end. The exchange the run keeps carries an empty
body; `full()` gives back the exchange as it was, for a finding.
"""

from __future__ import annotations

import dataclasses
import zlib

from kyren_conformance.exchange import Exchange

PACKED_FROM = 1024  # bytes: a body this long or longer is kept compressed (a short one costs less as it is)


class PackedBodies:
    def __init__(self) -> None:
        # id of the kept exchange -> (that exchange, its body compressed); the exchange is held so its id stays its
        self._packed: dict[int, tuple[Exchange, bytes]] = {}

    def kept(self, exchange: Exchange) -> Exchange:
        """The exchange to keep: itself, or (a long body) the same with its body packed here."""
        if len(exchange.request_body) < PACKED_FROM:
            return exchange
        slim = dataclasses.replace(exchange, request_body=b"")
        self._packed[id(slim)] = (slim, zlib.compress(exchange.request_body, 1))
        return slim

    def full(self, exchange: Exchange) -> Exchange:
        """The exchange as it was sent, its body unpacked."""
        entry = self._packed.get(id(exchange))
        if entry is None or entry[0] is not exchange:
            return exchange
        return dataclasses.replace(exchange, request_body=zlib.decompress(entry[1]))
