"""Prints the buffers and commands of a cuda bundle's rank program, one a line."""
import json
import sys

from bundle_section import read_section


def main(path, rank=0):
    program = json.loads(read_section(path, f"rank{rank}.program"))
    for b in program["buffers"]:
        print(f"buffer {b['id']} {b['kind']} {b['dtype']} {b['shape']}")
    for c in program["commands"]:
        if c["op"] == "launch":
            print(f"launch {c['function']} (kernel {c['kernel']}) grid={c['grid']} "
                  f"block={c['block']} shared={c['shared_bytes']} args={c['args']} "
                  f"writes={c['writes']}")
        elif c["op"] == "matmul":
            print(f"matmul a={c['a']} b={c['b']} c={c['c']}")
        else:
            fields = " ".join(f"{k}={v}" for k, v in sorted(c.items()) if k != "op")
            print(f"{c['op']} {fields}")
    print(f"outputs {program['outputs']}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)
