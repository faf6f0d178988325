#!/usr/bin/env python3
"""Checks that a Lantern binary runs only baseline x86-64 instructions outside its wide kernels.

The CPU kernels are compiled three times (Package.swift): the baseline, AVX2 (x86-64-v3) and
AVX-512 (x86-64-v4), and the backend runs the widest the CPU has. The wide builds also emit
helpers that other modules emit too (generic specialisations of the standard library, closure
thunks, value-witness copies); the linker keeps one copy of each, the first in link order. If that
copy were a wide build's, baseline code would call AVX-512 instructions on a CPU without them.

This script disassembles the binary (objdump) and fails when a global or weak function (one the
linker may have chosen among copies) that is not one of the wide kernel modules' own uses an
instruction of the AVX family (VEX or EVEX encoded: ymm/zmm/mask registers, or any v-prefixed
SSE/AVX mnemonic), naming each such function. Local functions (the C helpers in CIntrinsics'
header, copied into each module that uses them) belong to the object they were compiled in and are
not checked. C functions that check the CPU themselves before using wider instructions are listed
in ALLOWED.

    python3 tools/check_isa_leaks.py .build/release/lantern .build/release/liblanternc.so
"""
import re
import subprocess
import sys

# Mangled-name markers of the wide kernel modules (Swift mangles a module name as <length><name>).
WIDE_MODULES = ("wideKernelsAVX2", "wideKernelsAVX512")
# C functions compiled with their own target attributes and called only after a CPU check.
ALLOWED = re.compile(r"^lantern_amx_")
AVX_REGISTER = re.compile(r"%(ymm|zmm)\d+|%k[1-7]\b|%xmm(1[6-9]|2\d|3[01])\b")
VEX_MNEMONIC = re.compile(r"^v[a-z0-9]+")


def owned_by_wide_module(symbol: str) -> bool:
    return any(f"{len(m)}{m}" in symbol for m in WIDE_MODULES)


def shared_symbols(path: str) -> set:
    """Global and weak symbols: the ones one copy of which the linker chose."""
    out = subprocess.run(["nm", "--defined-only", path], capture_output=True, text=True, check=True).stdout
    return {parts[2] for parts in (line.split() for line in out.splitlines())
            if len(parts) == 3 and parts[1] in {"T", "W", "V"}}


def leaks(path: str) -> dict:
    shared = shared_symbols(path)
    found = {}
    function = None
    proc = subprocess.Popen(["objdump", "-d", "--no-show-raw-insn", "-M", "att", path],
                            stdout=subprocess.PIPE, text=True, errors="replace")
    for line in proc.stdout:
        if line.endswith(">:\n"):
            function = line[line.index("<") + 1:-3]
            continue
        if function is None or "\t" not in line:
            continue
        parts = line.split("\t")
        instruction = parts[-1].strip()
        mnemonic = instruction.split(" ", 1)[0]
        if VEX_MNEMONIC.match(mnemonic) or AVX_REGISTER.search(instruction):
            if function in shared and not owned_by_wide_module(function) and not ALLOWED.match(function):
                found.setdefault(function, instruction)
    proc.wait()
    if proc.returncode != 0:
        sys.exit(f"objdump failed on {path}")
    return found


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    bad = 0
    for path in sys.argv[1:]:
        found = leaks(path)
        for function, instruction in sorted(found.items()):
            print(f"{path}: {function} uses `{instruction}` outside the wide kernels")
        bad += len(found)
        if not found:
            print(f"{path}: wide instructions only in the wide kernel modules")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
