"""Built-in servers speaking Kyoto Tycoon's and Tokyo Tyrant's wire protocols.

``python -m kt.server kyoto [ktserver-style options] [DB ...]`` and
``python -m kt.server tyrant [ttserver-style options] [DB]``.  They exist so
that kt, its tests and its examples run on machines without ktserver or
ttserver; production deployments use the real servers.
"""
