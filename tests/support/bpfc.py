"""eBPF objects compiled in a test from a few lines of C, with Debian's clang as ``make bpf``
uses it (so tests can make objects the committed ones are not: legacy maps, programs the
verifier refuses)."""

from __future__ import annotations

import subprocess
from pathlib import Path

PRELUDE = """
#include <linux/bpf.h>
#define SEC(name) __attribute__((section(name), used))
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)BPF_FUNC_map_lookup_elem;
char _license[] SEC("license") = "GPL";
"""

# A legacy map (section "maps") and a program that reads its value without checking the
# lookup found one: the verifier refuses it.
UNCHECKED_LOOKUP = """
struct bpf_map_def { unsigned int type, key_size, value_size, max_entries, map_flags; };
struct bpf_map_def SEC("maps") kdtn_legacy = { BPF_MAP_TYPE_HASH, 4, 8, 1, 0 };
SEC("sockops") int kdtn_unchecked(struct bpf_sock_ops *skops)
{
	__u32 key = 0;
	__u64 *value = bpf_map_lookup_elem(&kdtn_legacy, &key);
	return *value & 1;
}
"""


def compile_c(source: str, out_dir: Path, *, name: str = "test") -> Path:
    multiarch = subprocess.run(
        ["gcc", "-print-multiarch"], capture_output=True, text=True, check=False
    ).stdout.strip()
    c_file, o_file = out_dir / f"{name}.c", out_dir / f"{name}.o"
    c_file.write_text(PRELUDE + source)
    subprocess.run(
        [
            "clang",
            "-O2",
            "-g",
            "-target",
            "bpf",
            f"-I/usr/include/{multiarch or 'x86_64-linux-gnu'}",
            "-c",
            str(c_file),
            "-o",
            str(o_file),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return o_file
