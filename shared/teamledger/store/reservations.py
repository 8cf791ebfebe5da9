"""ReservationStore: a reservation (POST /spend/reserve) in a partition of its own, written
before any counter moves, with the tokens of every step it will take; and the lease index
(GSI4 `LEASE#<shard>`, sorted by expiry) the schedule reads to charge leases that ran out.

A reservation's `state` moves once out of `held` (to `settled`, `released`, `expired` or
`refused`), and `expired` may move on to `settled` (a late settle). Each move is one conditional
UpdateItem that also records the move's steps (`ops.<kind>`: writer, first sequence number,
amounts), so the move can be finished by anyone who reads it.
"""

from teamledger.store import keys, table
from teamledger.store.marshal import Item

LEASE_MARK = keys.key("LEASEMARK", "LEASEMARK")  # how far the schedule has charged leases
PAGE = 100


class ReservationStore:
    shards = keys.LEASE_SHARDS

    def get(self, reservation_id: str) -> Item | None:
        item = table.get(keys.reservation(reservation_id))
        return keys.without_keys(item) if item else None

    def put_new(self, reservation: Item) -> bool:
        """The reservation, unless one with its id exists (a retry: False)."""
        rid = reservation["reservation_id"]
        return table.put_new(keys.reservation(rid) | keys.lease_index(
            rid, reservation.get("team_id"), reservation["expires_at"]) | reservation)

    def move(self, reservation_id: str, from_state: str, to_state: str, op: str | None = None,
             steps: Item | None = None, fields: Item | None = None) -> bool:
        """`state` from `from_state` to `to_state`, with the move's steps as `ops.<op>`;
        False if the reservation is not in `from_state` (someone moved it first)."""
        sets = ["#state = :to"]
        names = {"#state": "state"}
        values: Item = {":to": to_state, ":from": from_state}
        if op is not None:
            sets.append("#ops.#op = :steps")
            names |= {"#ops": "ops", "#op": op}
            values[":steps"] = steps or {}
        for n, (name, value) in enumerate((fields or {}).items()):
            sets.append(f"#f{n} = :f{n}")
            names[f"#f{n}"] = name
            values[f":f{n}"] = value
        return table.update_raw_if(keys.reservation(reservation_id), "SET " + ", ".join(sets),
                                   "#state = :from", names=names, values=values)

    def leases(self, shard: int, after: str, until: str,
               start: Item | None) -> tuple[list[Item], Item | None]:
        """One page of the shard's reservations whose lease ends in (after, until]."""
        items, start = table.Query(keys.lease_shard(shard), index="GSI4",
                                   sk_between=(after + "~", until + "~")).page(PAGE, start)
        return [keys.without_keys(i) for i in items], start

    def lease_mark(self) -> str | None:
        item = table.get(LEASE_MARK)
        return str(item["until"]) if item else None

    def set_lease_mark(self, until: str) -> None:
        table.update_if(LEASE_MARK, {"until": until}, "attribute_not_exists(#u) OR #u < :new",
                        names={"#u": "until"}, values={":new": until})
