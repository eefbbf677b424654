"""Command-line front end of ngramkit (installed as ``ngramkit.cli``)."""
