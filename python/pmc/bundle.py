"""Read-only view of a pmc bundle file (`model.pmc`).

The container is parsed by the runtime's C++ reader (`pmc._runtime.Bundle`,
the one parser of docs/design/bundle.md): header, section table and layout
are validated when the file is opened, a section's checksum when it is read.
This module adds what Python code wants to show: the manifest and the
per-rank programs as dicts, and where each section lies in the file (the
tests that damage bundles on purpose use the offsets).

    >>> info = BundleInfo.read("model.pmc")
    >>> info.manifest["inputs"]
    [{'name': 'x', 'dtype': 'float32', 'shape': [2, 64]}]
    >>> info.section("manifest").offset
    128
"""

from __future__ import annotations

import json
import os
from typing import NamedTuple


class BundleFormatError(ValueError):
    """The file is not a well-formed pmc bundle container."""


class Section(NamedTuple):
    name: str
    offset: int
    size: int
    crc32: int


def _reader(path: str):
    from .executable import _runtime_module  # noqa: PLC0415 - avoids an import cycle
    runtime = _runtime_module()
    try:
        return runtime.Bundle(path)
    except runtime.BundleError as e:
        raise BundleFormatError(str(e)) from None


class BundleInfo:
    """The section table, manifest and rank programs of one bundle."""

    def __init__(self, path: str, reader):
        self.path = path
        self._reader = reader
        self.format_version = reader.format_version
        self.sections = [Section(*entry) for entry in reader.sections]
        self._by_name = {s.name: s for s in self.sections}

    @classmethod
    def read(cls, path) -> "BundleInfo":
        """Opens the bundle at `path`; BundleFormatError says what is wrong."""
        path = os.fspath(path)
        return cls(path, _reader(path))

    @property
    def table_range(self) -> tuple[int, int]:
        """(offset, size) of the section table in the file."""
        return tuple(self._reader.table_range)

    def has_section(self, name: str) -> bool:
        return name in self._by_name

    def section(self, name: str) -> Section:
        """The table entry of section `name`; KeyError names what exists."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"{self.path}: no section '{name}' "
                           f"(sections: {', '.join(self._by_name)})") from None

    def section_bytes(self, name: str) -> bytes:
        """The bytes of section `name`; BundleFormatError when its checksum fails."""
        self.section(name)
        from .executable import _runtime_module  # noqa: PLC0415
        try:
            return self._reader.section(name)
        except _runtime_module().BundleError as e:
            raise BundleFormatError(str(e)) from None

    def verify_checksums(self) -> list[str]:
        """Returns the names of the sections whose CRC-32 does not match (a
        damaged table is refused when the bundle is opened)."""
        return list(self._reader.corrupt_sections())

    def _json(self, name: str):
        try:
            return json.loads(self.section_bytes(name).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BundleFormatError(f"{self.path}: section '{name}' is not valid JSON: {e}") from e

    @property
    def manifest(self) -> dict:
        return self._json("manifest")

    def program(self, rank: int = 0) -> dict:
        """The command list of rank `rank` (the JSON of `rank<R>.program`)."""
        return self._json(f"rank{rank}.program")

    def weight_sections(self) -> list[Section]:
        return [s for s in self.sections if s.name.startswith("w/")]
