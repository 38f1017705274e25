"""A tour of kt, end to end: start servers, use both clients, stop them.

    python3 examples/tour.py

It runs ktserver / ttserver when they are installed, and kt's built-in
servers otherwise, on free ports, and stops them at the end.
"""

from __future__ import annotations

import os
import tempfile
import time

from kt import (
    KT_JSON,
    OP_NUM_GE,
    OP_STR_STARTSWITH,
    ORDER_NUM_DESC,
    TT_TABLE,
    EmbeddedServer,
    EmbeddedTokyoTyrantServer,
    QueryBuilder,
)


def kyoto_tycoon() -> None:
    # Two databases: 0 is an in-memory hash, 1 an in-memory B+ tree.
    with EmbeddedServer(database=["*", "%"]) as server:
        print("Kyoto Tycoon:", "built-in server" if server.builtin else "ktserver",
              "on port", server.port)
        client = server.client

        client.set("greeting", "hello")
        print("get:", client.get("greeting"))

        client.set_bulk({"k1": "v1", "k2": "v2", "k3": "v3"})
        print("get_bulk:", client.get_bulk(["k1", "k2", "missing"]))
        print("remove_bulk:", client.remove_bulk(["k1", "k2"]))

        client.set("ephemeral", "soon gone", expire_time=1)
        print("before expiry:", client.get("ephemeral"))
        time.sleep(2)
        print("after expiry:", client.get("ephemeral"))

        client.set("in-tree", "ordered", db=1)
        client["k-b", 1] = "b"
        client["k-a", 1] = "a"
        print("db 0 has in-tree?", "in-tree" in client)
        print("db 1 keys in order:", list(client.keys(db=1)))

        print("incr:", client.incr("counter"), client.incr("counter", 10))
        print("records in db 0:", len(client))


def tokyo_tyrant() -> None:
    # A table database: records are dicts of columns, queried on the server.
    with tempfile.TemporaryDirectory() as tmp:
        database = os.path.join(tmp, "people.tct")
        with EmbeddedTokyoTyrantServer(database=database, serializer=TT_TABLE) as server:
            print("Tokyo Tyrant:", "built-in server" if server.builtin else "ttserver",
                  "on port", server.port)
            people = server.client
            people.set_bulk({
                "alice": {"name": "Alice", "age": "34"},
                "bob": {"name": "Bob", "age": "27"},
                "anna": {"name": "Anna", "age": "41"},
            })
            print("alice:", people.get("alice"))
            query = (QueryBuilder()
                     .filter("name", OP_STR_STARTSWITH, "A")
                     .filter("age", OP_NUM_GE, 30)
                     .order_by("age", ORDER_NUM_DESC))
            print("query keys:", query.execute(people))
            print("query records:", query.get(people))
            print("count:", query.count(people))


def json_values() -> None:
    with EmbeddedServer(serializer=KT_JSON) as server:
        server.client.set("doc", {"tags": ["a", "b"], "n": 1})
        print("json:", server.client.get("doc"))


if __name__ == "__main__":
    kyoto_tycoon()
    tokyo_tyrant()
    json_values()
    print("tour finished")
