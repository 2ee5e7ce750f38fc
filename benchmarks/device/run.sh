#!/usr/bin/env bash
# The GPU kit's one command on a lent machine (see benchmarks/device/README.md): unpacks the
# folder `deno task bench:pack` built (Deno, the bundled benchmark, the Vulkan loader), finds
# the NVIDIA Vulkan driver, and runs gpu_bench.js within the time limit, writing results.json,
# results.md, run.log and (where nvidia-smi exists) gpu.txt into $OUT.
#
#   bash benchmarks/device/run.sh [--dry-run] [gpu_bench flags...]
#
# --dry-run: for a machine without NVIDIA's driver (lavapipe here): use the driver the Vulkan
# loader finds, and small settings (tiny fixture, two kernel cases, short measurements) unless
# flags follow. Environment: BENCHKIT (the packed folder, default .benchkit), OUT (required),
# BENCHKIT_LIMIT_S (seconds before the benchmark is stopped, default 480), BENCHKIT_PACKED_LOADER
# (1: use the packed Vulkan loader even where the machine has one).
set -euo pipefail
cd "$(dirname "$0")/../.."

kit="${BENCHKIT:-.benchkit}"
: "${OUT:?Set OUT to the folder the results go to}"
limit="${BENCHKIT_LIMIT_S:-480}"
dry_run=0
if [ "${1:-}" = "--dry-run" ]; then dry_run=1; shift; fi
for f in deno.xz gpu_bench.js.xz; do
  [ -f "$kit/$f" ] || { echo "run.sh: $kit/$f is missing: run deno task bench:pack first" >&2; exit 2; }
done
mkdir -p "$OUT"
work="$(mktemp -d /tmp/benchkit.XXXXXX)"

unxz_to() { # unxz_to FILE.xz TARGET: xz where it is installed, Python's lzma otherwise
  if command -v xz >/dev/null; then xz -dc "$1" >"$2"
  else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"
  fi
}
unxz_to "$kit/deno.xz" "$work/deno"
chmod +x "$work/deno"
unxz_to "$kit/gpu_bench.js.xz" "$work/gpu_bench.js"

# The Vulkan loader: the machine's own, else (or with BENCHKIT_PACKED_LOADER=1) the packed one,
# unpacked here rather than into /.
if [ "${BENCHKIT_PACKED_LOADER:-0}" = 1 ] || ! ldconfig -p | grep 'libvulkan\.so\.1' >/dev/null; then
  shopt -s nullglob
  debs=("$kit"/debs/*.deb)
  [ "${#debs[@]}" -gt 0 ] || { echo "run.sh: no libvulkan.so.1 and no packed loader" >&2; exit 3; }
  for deb in "${debs[@]}"; do dpkg -x "$deb" "$work/root"; done
  export LD_LIBRARY_PATH="$work/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "Vulkan loader: packed (${#debs[@]} packages)"
fi

# NVIDIA's Vulkan driver (ICD): where the container runtime mounts it, or the usual places.
icd=""
for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd*.json /usr/share/vulkan/icd.d/nvidia_icd*.json \
  /etc/vulkan/icd.d/nvidia_icd*.json; do
  if [ -f "$f" ]; then icd="$f"; break; fi
done
if [ -n "$icd" ]; then
  export VK_DRIVER_FILES="$icd" VK_ICD_FILENAMES="$icd"
  egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  [ -f "$egl" ] && export __EGL_VENDOR_LIBRARY_FILENAMES="$egl"
  driver="NVIDIA ($icd)"
elif [ "$dry_run" = 1 ]; then
  driver="the loader's choice (dry run, no NVIDIA driver)"
else
  echo "run.sh: no NVIDIA Vulkan driver (nvidia_icd.json) found; --dry-run uses any driver" >&2
  exit 3
fi
echo "Vulkan driver: $driver"
command -v nvidia-smi >/dev/null && nvidia-smi >"$OUT/gpu.txt" 2>&1 || true

if [ "$dry_run" = 1 ] && [ "$#" -eq 0 ]; then
  set -- --preset tiny --kernels 'rmsnorm|lora down' --no-variants --min-seconds 0.01 \
    --tokens 16 --decode-tokens 4 --repeat 1 --streams 4 --budget-s 60
fi
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}" DENO_DIR="$work/deno_dir" DENO_NO_UPDATE_CHECK=1
set +e
timeout "$limit" "$work/deno" run -A "$work/gpu_bench.js" --out "$OUT" --driver "$driver" "$@" \
  2>&1 | tee "$OUT/run.log"
status="${PIPESTATUS[0]}"
set -e
rm -rf "$work"
if [ "$status" = 124 ]; then echo "run.sh: stopped after $limit s; results.json has what was measured" >&2; fi
exit "$status"
