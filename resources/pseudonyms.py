"""The salt that turns person names into stable pseudonyms.

The salt is a secret: with it, anyone holding a list of staff names could reverse the hashes.
It comes from $SEVENSTEP_PSEUDONYM_SALT; when that is unset (a local demo), a random salt is
created once in a file readable only by its owner beside the warehouse, so pseudonyms stay
stable across runs. It is only ever passed to DuckDB as a bound parameter, never stored in a
table or written to a log.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from resources.project import data_dir

ENV = "SEVENSTEP_PSEUDONYM_SALT"
MIN_LENGTH = 16


def salt_file() -> Path:
    return data_dir() / ".pseudonym_salt"


def pseudonym_salt() -> str:
    configured = os.environ.get(ENV)
    if configured is not None:
        if len(configured) < MIN_LENGTH:
            raise ValueError(f"${ENV} must be at least {MIN_LENGTH} characters long")
        return configured
    path = salt_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()
