"""The transfer engine: discovery, the worker loop and the streaming copy. Knows no protocol and no SQL."""
