"""asyncssh's log lines, made only when they are written.

asyncssh prepares two kinds of log line before anything asks whether they will be written: it describes every
packet it sends or receives (the handler's name, the byte count, a copy of the whole payload) before its logger
checks that packet logging is on (its debug level 3, off unless a user sets it), and it turns every argument of
every line into text before Python's logging checks the level (filepool keeps asyncssh at WARNING: each file's
open and close is logged at DEBUG). For many small files that is a dozen packets and lines a file on the one
thread that runs every SSH connection: 1,000 files of 200 KiB SFTP->S3 took 6.89 s and 4.63 CPU seconds with
it, 6.56 s and 4.34 without (medians of 6, alternating, on 2 cores; 6.74 against 6.68 s in a noisier run).

`log_only_what_is_written` puts each check first, process-wide: what a user who turns asyncssh's logging up sees
is the same, below it no work is done. asyncssh has no option for it; if a later asyncssh renames the methods,
nothing is wrapped and it behaves as asyncssh intends.
"""

from __future__ import annotations

from typing import Any

from filepool.endpoints.ssh_import import asyncssh  # without its DSA warnings

SSHLogger = asyncssh.logging.SSHLogger
SSHPacketLogger = asyncssh.packet.SSHPacketLogger


def log_only_what_is_written() -> None:
    """Wrap asyncssh's packet description and its log call in their own checks, once."""
    describe = getattr(SSHPacketLogger, "_log_packet", None)
    if describe is not None and not getattr(describe, "checks_first", False):

        def _log_packet(self: Any, *args: Any) -> None:
            if self.logger._debug_level >= 3:  # asyncssh's own test, in SSHLogger.packet
                describe(self, *args)

        _log_packet.checks_first = True  # type: ignore[attr-defined]
        SSHPacketLogger._log_packet = _log_packet  # type: ignore[method-assign,assignment]

    log = getattr(SSHLogger, "log", None)
    if log is not None and not getattr(log, "checks_first", False):

        def _log(self: Any, level: int, *args: Any, **kwargs: Any) -> None:
            if self.isEnabledFor(level):  # what logging.LoggerAdapter.log tests, after asyncssh made the text
                log(self, level, *args, **kwargs)

        _log.checks_first = True  # type: ignore[attr-defined]
        SSHLogger.log = _log  # type: ignore[method-assign]
