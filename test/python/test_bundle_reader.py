"""pmc.bundle reads the container laid out in docs/design/bundle.md through the
runtime's C++ reader; the bundle here is written by hand from that page."""

import json
import struct
import zlib

import numpy as np
import pytest

from pmc.bundle import BundleFormatError, BundleInfo


def write_bundle(path, sections):
    """Lays out {name: bytes} as format version 1: header, table, 64-byte aligned data."""
    names = list(sections)
    offset = 24 + 80 * len(names)
    entries, body, cursor = [], b"", offset
    for name in names:
        cursor = (cursor + 63) // 64 * 64
        entries.append((name, cursor, len(sections[name]), zlib.crc32(sections[name])))
        cursor += len(sections[name])
    table = b"".join(name.encode().ljust(56, b"\0") + struct.pack("<QQII", off, size, crc, 0)
                     for name, off, size, crc in entries)
    data = bytearray(b"PMCBNDL\0" + struct.pack("<IIII", 1, len(names), zlib.crc32(table), 0))
    data += table
    for (name, off, _, _) in entries:
        data += b"\0" * (off - len(data))
        data += sections[name]
    path.write_bytes(bytes(data))


@pytest.fixture
def bundle(tmp_path):
    manifest = {"format": "pmc-bundle", "format_version": 1, "target": "cpu", "devices": 1,
                "mesh": {"axes": []}, "inputs": [{"name": "x", "dtype": "float32",
                                                  "shape": [1, 4]}],
                "outputs": [{"name": "y", "dtype": "float32", "shape": [1, 4]}],
                "ranks": [{"rank": 0, "program": "rank0.program"}]}
    program = {"rank": 0, "buffers": [], "commands": [{"op": "copy", "from": 0, "to": 1}],
               "outputs": [1]}
    path = tmp_path / "b.pmc"
    write_bundle(path, {"manifest": json.dumps(manifest).encode(),
                        "rank0.program": json.dumps(program).encode(),
                        "kernels.cpu": b"\x7fELF" + b"\0" * 100,
                        "w/0": np.arange(16, dtype=np.float32).tobytes()})
    return path


def test_read_sections_and_json(bundle):
    info = BundleInfo.read(bundle)
    assert info.format_version == 1
    assert [s.name for s in info.sections] == ["manifest", "rank0.program", "kernels.cpu", "w/0"]
    assert all(s.offset % 64 == 0 for s in info.sections)
    assert info.manifest["inputs"][0]["name"] == "x"
    assert info.program(0)["commands"][0]["op"] == "copy"
    assert [s.name for s in info.weight_sections()] == ["w/0"]
    assert info.verify_checksums() == []
    with pytest.raises(KeyError, match="w/9"):
        info.section("w/9")


def test_flipped_bytes_are_located(bundle):
    info = BundleInfo.read(bundle)
    for name in ("manifest", "w/0", "kernels.cpu"):
        data = bytearray(bundle.read_bytes())
        data[info.section(name).offset + 1] ^= 0x01
        bundle.with_name("bad.pmc").write_bytes(bytes(data))
        assert BundleInfo.read(bundle.with_name("bad.pmc")).verify_checksums() == [name]
    data = bytearray(bundle.read_bytes())
    data[24 + 3] ^= 0x01
    bundle.with_name("bad.pmc").write_bytes(bytes(data))
    with pytest.raises(BundleFormatError, match="table checksum"):
        BundleInfo.read(bundle.with_name("bad.pmc"))


def test_not_a_bundle(tmp_path):
    p = tmp_path / "x.pmc"
    p.write_bytes(b"hello world, not a bundle at all")
    with pytest.raises(BundleFormatError, match="magic"):
        BundleInfo.read(p)
    p.write_bytes(b"PMCBNDL\0" + struct.pack("<IIII", 1, 1000, 0, 0))
    with pytest.raises(BundleFormatError, match="past the end"):
        BundleInfo.read(p)
