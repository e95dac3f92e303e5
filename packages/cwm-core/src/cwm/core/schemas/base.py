"""The base of every persisted record: an id, a kind tag and a schema version."""

from __future__ import annotations

import msgspec

#: bumped when a persisted field changes meaning or is removed; readers refuse
#: records written with a newer version than they know.
SCHEMA_VERSION = 1


class Record(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    """A persisted record. Subclasses set ``tag=`` to their kind name."""

    id: str
    schema_version: int = SCHEMA_VERSION
