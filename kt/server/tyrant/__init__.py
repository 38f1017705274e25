"""The built-in Tokyo Tyrant server: ``python -m kt.server tyrant``.

Modules (mirrored by kt.server.kyoto): cli (command line, process),
engine (request dispatch, no sockets), storage (hash, B+ tree and
fixed-length databases and their files), table (the table database and its
query engine), scripting (``-ext`` functions in Python).
"""
