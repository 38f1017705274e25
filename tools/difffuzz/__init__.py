"""Differential fuzzer for the built-in servers (``python -m tools.difffuzz``).

It sends one seeded random sequence of operations to two servers of the same
protocol (built-in vs real ktserver/ttserver, or built-in pure vs built-in
compiled), compares each pair of answers after the normalisation described
in ``normalise.py`` and, on a divergence, shrinks the sequence to a short
one that still reproduces it.  Called from the command line and from
tests/differential/.
"""
