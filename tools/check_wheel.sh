#!/usr/bin/env bash
# Installs a wheel from `make wheel` into a fresh venv and checks that it needs no Swift: no library
# or command in it looks into the toolchain's folder, every library it loads resolves inside the
# package or the system's own folders, and the README's Python example and the `lantern` command run
# with a PATH that has no swift on it. Prints the install time.
#   tools/check_wheel.sh dist/wheel/lantern-*.whl
set -euo pipefail
wheel=$(readlink -f "$1")
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# numpy comes from the system's site-packages; the wheel brings everything else.
python3 -m venv --system-site-packages "$work/venv"
start=$(date +%s%N)
"$work/venv/bin/pip" install -q --no-deps --no-index --ignore-installed "$wheel"
echo "check_wheel: installed in $(( ($(date +%s%N) - start) / 1000000 )) ms ($(du -h "$wheel" | cut -f1) wheel)"
package=$(cd "$work" && "$work/venv/bin/python" -c "import lantern, os; print(os.path.dirname(lantern.__file__))")
case "$package" in "$work"/venv/*) ;; *) echo "check_wheel: imported lantern from $package, not the venv"; exit 1;; esac
for file in "$package"/*.so "$package/bin/lantern"; do
  if readelf -d "$file" | grep -E 'R(UN)?PATH' | grep -qE '\[/|:/'; then  # an absolute folder
    echo "check_wheel: $(basename "$file") looks outside the package: $(readelf -d "$file" | grep -E 'R(UN)?PATH')"; exit 1
  fi
  if ldd "$file" | grep -E 'not found|/swift/'; then echo "check_wheel: $(basename "$file") resolves the libraries above"; exit 1; fi
done
clean_env=(env -i HOME="$HOME" PATH=/usr/bin:/bin)
command -v swift >/dev/null && ! "${clean_env[@]}" sh -c 'command -v swift' >/dev/null  # no swift in reach
cd "$root"  # the README's example reads saes/ from the repository
awk '/^## Python/ {section = 1} section && /^```python$/ {inside = 1; next} inside && /^```$/ {exit} inside' README.md > "$work/example.py"
"${clean_env[@]}" "$work/venv/bin/python" "$work/example.py" | tail -1
"${clean_env[@]}" "$work/venv/bin/lantern" next --model Tests/Fixtures/gemma2_tiny --token-ids 2,173,54 >/dev/null
echo "check_wheel: the README's Python example and the lantern command ran without Swift"
