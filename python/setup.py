"""Builds the Swift library (`swift build -c release --product lanternc`, with the Makefile's CPU
flags) and bundles liblanternc beside the package, for `pip install ./python` and
`pip install -e ./python`. Every analysis, harvest and training run goes through the library in
process: the package needs no `lantern` command.

LANTERN_SWIFT_FLAGS replaces the build flags (the Makefile passes its own, so that the test build's
products are reused instead of rebuilt); LANTERN_SKIP_SWIFT_BUILD=1 bundles an existing build.

LANTERN_BUNDLE_RUNTIME=1 (`make wheel`) makes a wheel that runs without Swift: the Swift runtime
libraries the library needs are copied beside it, the `lantern` command into `lantern/bin/`, and
every one of them is made to look for the others relative to itself ($ORIGIN), not in the
toolchain's folder (patchelf).
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


def build_library() -> None:
    if not (ROOT / "Package.swift").exists():
        if (HERE / "lantern" / LIBRARY).exists():
            return  # an sdist with the library already inside
        raise RuntimeError(f"no Package.swift in {ROOT}: build from the Lantern repository (pip install ./python)")
    if os.environ.get("LANTERN_SKIP_SWIFT_BUILD") != "1":
        flags = os.environ.get("LANTERN_SWIFT_FLAGS")
        # No CPU flags: the library carries kernels for every x86-64 level and picks at load.
        flags = flags.split() if flags else ["-c", "release"]
        products = ["lanternc", "lantern"] if bundling() else ["lanternc"]
        for product in products:
            swift_build(flags + ["--product", product])
    built = ROOT / ".build" / "release" / LIBRARY
    if not built.exists():
        raise RuntimeError(f"{built} was not built")
    shutil.copy2(built, HERE / "lantern" / LIBRARY)
    if bundling():
        bundle_runtime()
    else:  # a plain install loads the toolchain's runtime: no bundled copies from an earlier wheel
        for stale in (HERE / "lantern").glob("lib*.so"):
            if stale.name != LIBRARY:
                stale.unlink()
        shutil.rmtree(HERE / "lantern" / "bin", ignore_errors=True)


def bundling() -> bool:
    return os.environ.get("LANTERN_BUNDLE_RUNTIME") == "1"


def swift_build(arguments: list) -> None:
    """Runs `swift build`, showing its progress on the terminal even where pip hides the output."""
    command = ["swift", "build"] + arguments
    try:
        tty = open("/dev/tty", "w")
    except OSError:
        tty = None
    say = (lambda line: print(line, file=tty, flush=True)) if tty else (lambda line: None)
    say("lantern: " + " ".join(command) + " (the Swift library: a few minutes on 2 cores)")
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail = []
    for line in process.stdout:
        print(line, end="", flush=True)
        tail = (tail + [line])[-40:]
        if line.startswith("[") or "error" in line or "Compiling" in line or "complete" in line:
            say("lantern: " + line.rstrip()[:160])
    if process.wait() != 0:
        raise RuntimeError("swift build failed:\n" + "".join(tail))


def bundle_runtime() -> None:
    """Copies the Swift runtime libraries liblanternc and `lantern` load, and points every RUNPATH at
    the package's own folder."""
    package = HERE / "lantern"
    library, command = package / LIBRARY, package / "bin" / "lantern"
    command.parent.mkdir(exist_ok=True)
    shutil.copy2(ROOT / ".build" / "release" / "lantern", command)
    toolchain = None
    needed = set()
    for binary in (library, command):
        for line in subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout.splitlines():
            parts = line.split("=>")
            if len(parts) == 2 and "/swift/" in parts[1]:
                path = Path(parts[1].split("(")[0].strip())
                toolchain = path.parent
                needed.add(path.name)
    if toolchain is None:
        raise RuntimeError("ldd finds no Swift runtime library: nothing to bundle")
    for name in sorted(needed):
        shutil.copy2(toolchain / name, package / name)
        subprocess.run(["patchelf", "--set-rpath", "$ORIGIN", str(package / name)], check=True)
    subprocess.run(["patchelf", "--set-rpath", "$ORIGIN", str(library)], check=True)
    subprocess.run(["patchelf", "--set-rpath", "$ORIGIN/..", str(command)], check=True)
    print(f"lantern: bundled {len(needed)} Swift runtime libraries from {toolchain}", flush=True)


class BuildWithSwift(build_py):
    def run(self):
        build_library()
        super().run()


class WithNativeLibrary(Distribution):
    """The wheel carries a native library, so it is tagged for this platform, not py3-none-any."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildWithSwift}, distclass=WithNativeLibrary)
