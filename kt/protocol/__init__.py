"""Sans-I/O codecs of both protocols: bytes in, values or bytes out.

Who calls it: the clients (kt.kyoto, kt.tyrant, through kt.connection) and
the built-in servers (kt.server); nothing here opens sockets, starts threads
or reads clocks.  Compiled by mypyc when KT_USE_MYPYC=1 (setup.py).  One
module per layer; a module imports only the layers below it:

* buffer     receive buffer shared by every parser
* convert    the clients' per-record key/value conversions
* kt_tsv     Kyoto's bodies: TSV with colenc, forms, URL encoding
* http       HTTP/1.1 framing: request/response parsers and encoders
* kt_http    Kyoto RPC and REST over HTTP (re-exports http and kt_tsv)
* kt_binary  Kyoto's binary protocol (set/get/remove_bulk, play_script, repl)
* tt_table   Tokyo Tyrant table databases: columns and the search model
* tt_binary  Tokyo Tyrant's binary commands (re-exports tt_table)
"""
