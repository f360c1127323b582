"""Read-only view of a pmc bundle file (`model.pmc`), in pure Python.

The runtime is what validates and runs a bundle; this module only reads the
container (docs/design/bundle.md) so Python code can show what is inside: the
manifest, the per-rank programs and where each section lies in the file. The
plan summary of `pmc.Executable` and the tests that damage bundles on purpose
use it.

    >>> info = BundleInfo.read("model.pmc")
    >>> info.manifest["inputs"]
    [{'name': 'x', 'dtype': 'float32', 'shape': [2, 64]}]
    >>> info.section("manifest").offset
    128
"""

import json
import struct
import zlib
from typing import NamedTuple

MAGIC = b"PMCBNDL\0"
HEADER_SIZE = 24
ENTRY_SIZE = 80
NAME_SIZE = 56


class BundleFormatError(ValueError):
    """The file is not a well-formed pmc bundle container."""


class Section(NamedTuple):
    name: str
    offset: int
    size: int
    crc32: int


class BundleInfo:
    """The header, section table, manifest and rank programs of one bundle."""

    def __init__(self, path, data, version, table_crc32, sections):
        self.path = path
        self._data = data
        self.format_version = version
        self.table_crc32 = table_crc32
        self.sections = sections
        self._by_name = {s.name: s for s in sections}

    @classmethod
    def read(cls, path):
        """Parses the header and the section table of the bundle at `path`."""
        with open(path, "rb") as f:
            data = f.read()
        if len(data) < HEADER_SIZE or data[:8] != MAGIC:
            raise BundleFormatError(f"{path}: not a pmc bundle (bad magic)")
        version, count, table_crc = struct.unpack_from("<III", data, 8)
        table_end = HEADER_SIZE + ENTRY_SIZE * count
        if table_end > len(data):
            raise BundleFormatError(
                f"{path}: section table of {count} entries runs past the end of the file")
        sections = []
        for i in range(count):
            base = HEADER_SIZE + ENTRY_SIZE * i
            raw_name = data[base:base + NAME_SIZE]
            name = raw_name.split(b"\0", 1)[0].decode("utf-8", errors="replace")
            offset, size, crc = struct.unpack_from("<QQI", data, base + NAME_SIZE)
            sections.append(Section(name, offset, size, crc))
        return cls(path, data, version, table_crc, sections)

    @property
    def table_range(self):
        """(offset, size) of the section table in the file."""
        return HEADER_SIZE, ENTRY_SIZE * len(self.sections)

    def has_section(self, name):
        return name in self._by_name

    def section(self, name):
        """The table entry of section `name`; KeyError names what exists."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"{self.path}: no section '{name}' "
                           f"(sections: {', '.join(self._by_name)})") from None

    def section_bytes(self, name):
        s = self.section(name)
        if s.offset + s.size > len(self._data):
            raise BundleFormatError(f"{self.path}: section '{name}' runs past the end of the file")
        return self._data[s.offset:s.offset + s.size]

    def verify_checksums(self):
        """Returns the names of the sections whose CRC-32 does not match (the table
        itself is reported as '<table>')."""
        bad = []
        off, size = self.table_range
        if zlib.crc32(self._data[off:off + size]) != self.table_crc32:
            bad.append("<table>")
        for s in self.sections:
            if zlib.crc32(self._data[s.offset:s.offset + s.size]) != s.crc32:
                bad.append(s.name)
        return bad

    def _json(self, name):
        try:
            return json.loads(self.section_bytes(name).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BundleFormatError(f"{self.path}: section '{name}' is not valid JSON: {e}") from e

    @property
    def manifest(self):
        return self._json("manifest")

    def program(self, rank=0):
        """The command list of rank `rank` (the JSON of `rank<R>.program`)."""
        return self._json(f"rank{rank}.program")

    def weight_sections(self):
        return [s for s in self.sections if s.name.startswith("w/")]
