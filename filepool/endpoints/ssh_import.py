"""asyncssh, imported once without its warnings about DSA: the cryptography package deprecates DSA, and asyncssh's
modules name its key classes as they load, which printed five CryptographyDeprecationWarning lines at the start of
every task log. filepool never offers or accepts DSA keys (asyncssh's defaults leave them out); a DSA key given in
a connection would still load, with cryptography's own warning then."""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="DSA is deprecated")
    import asyncssh
    import asyncssh.constants
    import asyncssh.logging
    import asyncssh.packet

__all__ = ["asyncssh"]
