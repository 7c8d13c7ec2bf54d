"""The bench: protocol v2 host side (protocol.py) and the bench firmware config (firmware.py)."""
