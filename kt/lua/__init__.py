"""The Lua helper libraries shipped with kt (kyoto.lua for ``ktserver -scr``,
tyrant.lua for ``ttserver -ext``) and the function that finds them.

Who calls it: users starting a server (``ktserver -scr
$(python -c 'import kt; print(kt.lua_script_path("kyoto"))')``), the
embedded server managers and the tests.  The client helpers over these
procedures are in kt.containers.
"""

from __future__ import annotations

import os

__all__ = ["lua_script_path"]

_SCRIPTS = {"kyoto": "kyoto.lua", "tyrant": "tyrant.lua"}


def lua_script_path(server: str = "kyoto") -> str:
    """The absolute path of kt's Lua helper library for a server.

    Args:
        server: "kyoto" for Kyoto Tycoon (load it with ``ktserver -scr``) or
            "tyrant" for Tokyo Tyrant (``ttserver -ext``).

    Returns:
        The path of the ``.lua`` file shipped with kt.

    Raises:
        ValueError: ``server`` is neither "kyoto" nor "tyrant".
    """
    name = _SCRIPTS.get(server)
    if name is None:
        raise ValueError("server must be 'kyoto' or 'tyrant', not %r" % (server,))
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
