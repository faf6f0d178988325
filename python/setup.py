"""Builds the Swift library (`swift build -c release --product lanternc`, with the Makefile's CPU
flags) and bundles liblanternc beside the package, for `pip install ./python` and
`pip install -e ./python`. Every analysis, harvest and training run goes through the library in
process: the package needs no `lantern` command.

LANTERN_SWIFT_FLAGS replaces the build flags (the Makefile passes its own, so that the test build's
products are reused instead of rebuilt); LANTERN_SKIP_SWIFT_BUILD=1 bundles an existing build.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LIBRARY = "liblanternc.dylib" if sys.platform == "darwin" else "liblanternc.so"


def host_cpu_flags() -> list:
    """The Makefile's rule: skylake-avx512 (and the 16-lane GEMM tile) when the CPU has AVX-512 F, BW,
    DQ and VL; haswell when it has AVX2, FMA and F16C; else the baseline."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl", "fma", "f16c"} <= flags:
        return ["-Xswiftc", "-target-cpu", "-Xswiftc", "skylake-avx512", "-Xcc", "-march=skylake-avx512",
                "-Xswiftc", "-DLANTERN_AVX512"]
    if {"avx2", "fma", "f16c"} <= flags:
        return ["-Xswiftc", "-target-cpu", "-Xswiftc", "haswell", "-Xcc", "-march=haswell"]
    return []


def build_library() -> None:
    if not (ROOT / "Package.swift").exists():
        if (HERE / "lantern" / LIBRARY).exists():
            return  # an sdist with the library already inside
        raise RuntimeError(f"no Package.swift in {ROOT}: build from the Lantern repository (pip install ./python)")
    if os.environ.get("LANTERN_SKIP_SWIFT_BUILD") != "1":
        flags = os.environ.get("LANTERN_SWIFT_FLAGS")
        flags = flags.split() if flags else ["-c", "release"] + host_cpu_flags()
        command = ["swift", "build"] + flags + ["--product", "lanternc"]
        print("lantern: " + " ".join(command), flush=True)
        subprocess.run(command, cwd=ROOT, check=True)
    built = ROOT / ".build" / "release" / LIBRARY
    if not built.exists():
        raise RuntimeError(f"{built} was not built")
    shutil.copy2(built, HERE / "lantern" / LIBRARY)


class BuildWithSwift(build_py):
    def run(self):
        build_library()
        super().run()


class WithNativeLibrary(Distribution):
    """The wheel carries a native library, so it is tagged for this platform, not py3-none-any."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildWithSwift}, distclass=WithNativeLibrary)
