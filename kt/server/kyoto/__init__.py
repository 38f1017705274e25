"""The built-in Kyoto Tycoon server: ``python -m kt.server kyoto``.

Modules (mirrored by kt.server.tyrant): cli (command line, process),
engine (request dispatch, no sockets), storage (databases and their
files), scripting (``-scr`` procedures in Python).
"""
