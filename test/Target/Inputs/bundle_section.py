"""Prints (or writes) one section of a pmc bundle, following docs/design/bundle.md."""
import struct
import sys


def read_section(path, name):
    data = open(path, "rb").read()
    magic, version, count = data[:8], *struct.unpack_from("<II", data, 8)
    if magic != b"PMCBNDL\0" or version != 1:
        sys.exit(f"{path}: not a version-1 pmc bundle")
    for i in range(count):
        entry = data[24 + 80 * i: 24 + 80 * (i + 1)]
        entry_name = entry[:56].rstrip(b"\0").decode()
        offset, size = struct.unpack_from("<QQ", entry, 56)
        if entry_name == name:
            return data[offset:offset + size]
    sys.exit(f"{path}: no section '{name}'")


if __name__ == "__main__":
    path, name = sys.argv[1], sys.argv[2]
    payload = read_section(path, name)
    if len(sys.argv) > 3:
        open(sys.argv[3], "wb").write(payload)
    else:
        sys.stdout.write(payload.decode())
