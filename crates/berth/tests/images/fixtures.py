#!/usr/bin/env python3
"""Offline fixtures for the `berth` image tests and bench/image.sh (python3 standard library only).

Subcommands (all paths are files this script writes):
  rootfs-tar OUT [--busybox PATH]     busybox rootfs as a tar (bin/busybox + applet symlinks, /etc, /tmp)
  random-tar OUT MIB [--name N]       one file of MIB MiB random bytes
  text-tar OUT MIB [--name N]         one file of MIB MiB compressible text
  evil-tar OUT KIND --target DIR      hostile layer aiming at DIR: dotdot | dotdot-inner | absolute |
                                      symlink-out | symlink-out-relative | hardlink-out
  archive OUT --layer TAR... [--tag REF]... [--cmd JSON] [--mutate M] [--gzip]
                                      a docker-archive (manifest.json, <hex>.json config, <hex>/layer.tar)
      M: none | missing-blob | diffid-mismatch | corrupt-layer
  Prints a JSON summary on stdout: {"id": "sha256:..", "diff_ids": [..], "layers": [..]}.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

CHUNK = 1 << 20


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(CHUNK)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def tarinfo(name, kind=tarfile.REGTYPE, mode=0o644, size=0, linkname=""):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.size = size
    ti.linkname = linkname
    ti.mtime = 1700000000
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


def add_dir(tf, name, mode=0o755):
    tf.addfile(tarinfo(name, tarfile.DIRTYPE, mode))


def add_file(tf, name, data, mode=0o644):
    tf.addfile(tarinfo(name, size=len(data), mode=mode), io.BytesIO(data))


def add_symlink(tf, name, target):
    tf.addfile(tarinfo(name, tarfile.SYMTYPE, 0o777, linkname=target))


def rootfs_tar(out, busybox):
    applets = subprocess.run([busybox, "--list"], check=True, capture_output=True, text=True).stdout.split()
    with open(busybox, "rb") as f:
        bb = f.read()
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tf:
        for d in ["bin", "etc", "tmp", "root", "dev", "proc", "sys"]:
            add_dir(tf, d, 0o1777 if d == "tmp" else 0o755)
        add_file(tf, "bin/busybox", bb, 0o755)
        for a in sorted(set(applets)):
            if a != "busybox":
                add_symlink(tf, "bin/" + a, "busybox")
        add_file(tf, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
        add_file(tf, "etc/group", b"root:x:0:\nnogroup:x:65534:\n")
        add_file(tf, "etc/hostname", b"berth\n")


def data_tar(out, name, size, gen):
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tf:
        add_dir(tf, "data")
        ti = tarinfo("data/" + name, size=size)
        tf.addfile(ti, gen(size))


class RandomReader(io.RawIOBase):
    def __init__(self, size):
        self.left = size

    def read(self, n=-1):
        if self.left <= 0:
            return b""
        n = self.left if n is None or n < 0 else min(n, self.left)
        self.left -= n
        return os.urandom(n)


class TextReader(io.RawIOBase):
    LINE = b"".join(b"line %06d: the quick brown fox jumps over the lazy dog\n" % i for i in range(4096))

    def __init__(self, size):
        self.left = size
        self.pos = 0

    def read(self, n=-1):
        if self.left <= 0:
            return b""
        n = self.left if n is None or n < 0 else min(n, self.left)
        out = bytearray()
        while len(out) < n:
            take = min(n - len(out), len(self.LINE) - self.pos)
            out += self.LINE[self.pos : self.pos + take]
            self.pos = (self.pos + take) % len(self.LINE)
        self.left -= n
        return bytes(out)


def evil_tar(out, kind, target):
    """A layer that tries to write `berth-evil-<kind>` into the directory `target` (outside the store)."""
    name = "berth-evil-" + kind
    up = "../" * 24
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tf:
        add_dir(tf, "ok")
        add_file(tf, "ok/file", b"fine\n")
        if kind == "dotdot":
            add_file(tf, up + target.lstrip("/") + "/" + name, b"escaped\n")
        elif kind == "dotdot-inner":
            add_file(tf, "ok/" + up + target.lstrip("/") + "/" + name, b"escaped\n")
        elif kind == "absolute":
            add_file(tf, target + "/" + name, b"escaped\n")
        elif kind == "symlink-out":
            add_symlink(tf, "ok/link", target)
            add_file(tf, "ok/link/" + name, b"escaped\n")
        elif kind == "symlink-out-relative":
            add_symlink(tf, "ok/up", up + target.lstrip("/"))
            add_file(tf, "ok/up/" + name, b"escaped\n")
        elif kind == "hardlink-out":
            tf.addfile(tarinfo("ok/hl", tarfile.LNKTYPE, 0o644, linkname=target + "/secret"))
        else:
            sys.exit("unknown evil kind " + kind)


def archive(out, layers, tags, cmd, mutate, gz):
    diff_ids, names = [], []
    for path in layers:
        diff_ids.append("sha256:" + sha256_file(path))
    cfg_diff_ids = list(diff_ids)
    if mutate == "diffid-mismatch":
        cfg_diff_ids[-1] = "sha256:" + "0" * 63 + "1"
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": cmd},
        "rootfs": {"type": "layers", "diff_ids": cfg_diff_ids},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "fixtures.py layer %d" % i} for i in range(len(layers))],
    }
    cfg = json.dumps(config, separators=(",", ":")).encode()
    cfg_hex = hashlib.sha256(cfg).hexdigest()
    for d in diff_ids:
        names.append(d[len("sha256:"):] + "/layer.tar")
    manifest = [{"Config": cfg_hex + ".json", "RepoTags": tags, "Layers": list(names)}]
    if mutate == "missing-blob":
        manifest[0]["Layers"][-1] = "f" * 64 + "/layer.tar"
    raw = open(out + ".tmp", "wb")
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tf:
        add_file(tf, cfg_hex + ".json", cfg)
        for i, (path, name) in enumerate(zip(layers, names)):
            add_dir(tf, name.split("/")[0])
            size = os.path.getsize(path)
            with open(path, "rb") as f:
                if mutate == "corrupt-layer" and i == len(layers) - 1:
                    data = bytearray(f.read())
                    # Flip bytes in the middle of the layer's data (not its tar headers).
                    mid = len(data) // 2
                    for k in range(mid, min(mid + 64, len(data))):
                        data[k] ^= 0xFF
                    tf.addfile(tarinfo(name, size=size), io.BytesIO(bytes(data)))
                else:
                    tf.addfile(tarinfo(name, size=size), f)
        add_file(tf, "manifest.json", json.dumps(manifest).encode())
    raw.close()
    if gz:
        with open(out + ".tmp", "rb") as src, gzip.open(out, "wb", compresslevel=1) as dst:
            while True:
                b = src.read(CHUNK)
                if not b:
                    break
                dst.write(b)
        os.unlink(out + ".tmp")
    else:
        os.rename(out + ".tmp", out)
    json.dump({"id": "sha256:" + cfg_hex, "diff_ids": diff_ids, "layers": names}, sys.stdout)
    print()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="sub", required=True)
    r = sub.add_parser("rootfs-tar")
    r.add_argument("out")
    r.add_argument("--busybox", default="/bin/busybox")
    for kind in ["random-tar", "text-tar"]:
        s = sub.add_parser(kind)
        s.add_argument("out")
        s.add_argument("mib", type=float)
        s.add_argument("--name", default="blob")
    e = sub.add_parser("evil-tar")
    e.add_argument("out")
    e.add_argument("kind")
    e.add_argument("--target", required=True)
    a = sub.add_parser("archive")
    a.add_argument("out")
    a.add_argument("--layer", action="append", required=True)
    a.add_argument("--tag", action="append", default=[])
    a.add_argument("--cmd", default='["sh"]')
    a.add_argument("--mutate", default="none")
    a.add_argument("--gzip", action="store_true")
    args = p.parse_args()
    if args.sub == "rootfs-tar":
        rootfs_tar(args.out, args.busybox)
    elif args.sub == "random-tar":
        data_tar(args.out, args.name, int(args.mib * CHUNK), RandomReader)
    elif args.sub == "text-tar":
        data_tar(args.out, args.name, int(args.mib * CHUNK), TextReader)
    elif args.sub == "evil-tar":
        evil_tar(args.out, args.kind, args.target)
    elif args.sub == "archive":
        archive(args.out, args.layer, args.tag, json.loads(args.cmd), args.mutate, args.gzip)


if __name__ == "__main__":
    main()
