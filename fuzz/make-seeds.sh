#!/usr/bin/env bash
# fuzz/make-seeds.sh - (re)make the inspector fuzzer's seed corpus in fuzz/corpus/inspector from
# images made by the real tools (qemu-img, genisoimage, xorriso, sgdisk, sfdisk). Each seed is
# one selector byte (chunking, see fuzz/InspectorFuzzEntry.swift) and the part of an image
# where its structures live, so the corpus stays small (about 1.5 MB).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/fuzz/corpus/inspector"
T="$(mktemp -d)"; trap 'rm -rf "$T"' EXIT
cd "$T"
head -c 196608 /dev/urandom > content.raw
q() { qemu-img "$@" >/dev/null; }
q convert -f raw -O qcow2 -o compat=0.10 content.raw v2.qcow2
q convert -f raw -O qcow2 content.raw v3.qcow2
q create -f qcow2 -b v3.qcow2 -F qcow2 backing.qcow2
q create -f qcow2 -o data_file=data.raw datafile.qcow2 1M
q convert -f raw -O vmdk -o subformat=monolithicSparse content.raw sparse.vmdk
q create -f vmdk -o subformat=streamOptimized stream.vmdk 1G
q create -f vmdk -o subformat=monolithicFlat flat.vmdk 1M
q create -f vpc dynamic.vhd 1G
q create -f vpc -o subformat=fixed fixed.vhd 64K
q create -f vhdx x.vhdx 1G
q create -f vdi x.vdi 1G
q create -f qed x.qed 1G
q create -f luks --object secret,id=s0,data=x -o key-secret=s0,iter-time=10 x.luks 64K
mkdir tree && echo hello > tree/a
genisoimage -quiet -o gen.iso tree
genisoimage -quiet -udf -o udf.iso tree
head -c 65536 content.raw > efi.img
xorriso -as mkisofs -quiet -o hybrid.iso -append_partition 2 0xef efi.img -appended_part_as_gpt tree 2>/dev/null
truncate -s 2M disk.gpt && sgdisk -o -n 1:2048:0 disk.gpt >/dev/null
truncate -s 1M disk.mbr && printf 'label: dos\n,,L\n' | sfdisk -q disk.mbr
python3 - "$OUT" <<'PY'
import os, struct, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for f in os.listdir(out): os.remove(os.path.join(out, f))
def seed(name, data, selectors=(10, 0, 0x41)):
    for s in selectors:
        open(os.path.join(out, f"{name}-{s:02x}"), "wb").write(bytes([s]) + data)
rd = lambda n: open(n, "rb").read()
for n in ["v2.qcow2", "v3.qcow2", "backing.qcow2", "datafile.qcow2"]: seed(n, rd(n)[:4096])
seed("sparse.vmdk", rd("sparse.vmdk")[:16384])
s = rd("stream.vmdk"); seed("stream.vmdk", s[:12288] + s[-1536:])
seed("flat.vmdk", rd("flat.vmdk"))
seed("dynamic.vhd", rd("dynamic.vhd")[:4096])
f = rd("fixed.vhd"); seed("fixed.vhd", f[:1024] + f[-512:])
# VHDX: keep 256 KiB, move the metadata region right after it, keep its table and items.
v = bytearray(rd("x.vhdx"))
table = 196608
count = struct.unpack_from("<I", v, table + 8)[0]
meta_guid = bytes.fromhex("06a27c8b90479a4bb8fe575f050f886e")
for i in range(count):
    e = table + 16 + i * 32
    if v[e:e + 16] == meta_guid:
        meta_off = struct.unpack_from("<Q", v, e + 16)[0]
        struct.pack_into("<Q", v, e + 16, 262144)
meta = v[meta_off:meta_off + 65536 + 4096]
seed("x.vhdx", bytes(v[:262144]) + bytes(meta), selectors=(10, 0x41))
seed("x.vdi", rd("x.vdi")[:1024])
seed("x.qed", rd("x.qed")[:4096])
seed("x.luks", rd("x.luks")[:4096])
for n in ["gen.iso", "udf.iso", "hybrid.iso"]: seed(n, rd(n)[:40960])
seed("disk.gpt", rd("disk.gpt")[:20480])
seed("disk.mbr", rd("disk.mbr")[:1024])
PY
du -sh "$OUT"; ls "$OUT" | wc -l
