"""filepool: move very many files between SFTP/FTP, S3-compatible storage and local disks, exactly once."""

from __future__ import annotations

__version__ = "0.6.0"
