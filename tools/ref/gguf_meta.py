#!/usr/bin/env python3
"""A small, independent GGUF header reader: metadata keys and the tensor directory only.

It never touches tensor data, so it works on truncated files (such as the first pieces of a
split download), where the `gguf` package's reader fails while mapping tensors. Used by
tools/ref/tokenizer.py and by the end-to-end checks (to name the first tensor past the end).

    python3 tools/ref/gguf_meta.py FILE [--tensors]
"""
import struct, sys

# value types of the GGUF key-value section
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
T_STRING, T_ARRAY = 8, 9

# ggml tensor types: (elements per block, bytes per block); only those real files use
GGML_TYPES = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
    26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 30: ("BF16", 1, 2),
}


class GGUFMetaError(Exception):
    pass


class _Cursor:
    def __init__(self, f):
        self.f = f

    def read(self, n):
        b = self.f.read(n)
        if len(b) != n:
            raise GGUFMetaError("file ends inside the header")
        return b

    def unpack(self, fmt):
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self):
        n = self.unpack("<Q")
        if n > (1 << 30):
            raise GGUFMetaError(f"string length {n} is implausible")
        return self.read(n).decode("utf-8", errors="surrogateescape")

    def value(self, vtype):
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == T_STRING:
            return self.string()
        if vtype == T_ARRAY:
            itype = self.unpack("<I")
            n = self.unpack("<Q")
            if n > (1 << 31):
                raise GGUFMetaError(f"array length {n} is implausible")
            if itype in _SCALARS:
                fmt = _SCALARS[itype]
                size = struct.calcsize(fmt)
                return list(struct.unpack("<%d%s" % (n, fmt[1]), self.read(n * size)))
            return [self.value(itype) for _ in range(n)]
        raise GGUFMetaError(f"unknown value type {vtype}")


class GGUFMeta:
    """Fields: version, kv (dict key -> value), tensors (list of dicts name, shape (ggml order),
    type, type_name, offset (absolute, in the file), nbytes), data_offset, file_size."""

    def __init__(self, path):
        import os
        self.path = path
        self.file_size = os.path.getsize(path)
        with open(path, "rb") as f:
            c = _Cursor(f)
            if c.read(4) != b"GGUF":
                raise GGUFMetaError("not a GGUF file (bad magic)")
            self.version = c.unpack("<I")
            if self.version not in (2, 3):
                raise GGUFMetaError(f"unsupported GGUF version {self.version}")
            n_tensors = c.unpack("<Q")
            n_kv = c.unpack("<Q")
            self.kv = {}
            for _ in range(n_kv):
                key = c.string()
                self.kv[key] = c.value(c.unpack("<I"))
            tensors = []
            for _ in range(n_tensors):
                name = c.string()
                nd = c.unpack("<I")
                shape = [c.unpack("<Q") for _ in range(nd)]
                ttype = c.unpack("<I")
                off = c.unpack("<Q")
                tensors.append((name, shape, ttype, off))
            align = int(self.kv.get("general.alignment", 32))
            pos = f.tell()
            self.data_offset = (pos + align - 1) // align * align
        self.tensors = []
        for name, shape, ttype, off in tensors:
            tname, blk, bsz = GGML_TYPES.get(ttype, (f"type{ttype}", None, None))
            n = 1
            for d in shape:
                n *= d
            nbytes = n // blk * bsz if blk else None
            self.tensors.append(dict(name=name, shape=shape, type=ttype, type_name=tname,
                                     offset=self.data_offset + off, nbytes=nbytes))

    def get(self, key, default=None):
        return self.kv.get(key, default)

    @property
    def arch(self):
        return self.kv.get("general.architecture")

    def first_tensor_past_end(self):
        """The first tensor (in file order of its data) whose bytes run past the end of the file,
        or None when every tensor fits."""
        for t in sorted(self.tensors, key=lambda t: t["offset"]):
            if t["nbytes"] is None or t["offset"] + t["nbytes"] > self.file_size:
                return t
        return None

    def size_needed(self):
        return max((t["offset"] + (t["nbytes"] or 0) for t in self.tensors), default=self.data_offset)


def main(argv):
    if not argv:
        print(__doc__.strip())
        return 2
    m = GGUFMeta(argv[0])
    print(f"version {m.version}, {len(m.kv)} keys, {len(m.tensors)} tensors, file {m.file_size} bytes,"
          f" needs {m.size_needed()} bytes")
    for k, v in m.kv.items():
        if isinstance(v, list):
            v = f"[{len(v)} items] " + repr(v[:5])
        elif isinstance(v, str) and len(v) > 80:
            v = repr(v[:80]) + "..."
        print(f"{k} = {v}")
    if "--tensors" in argv:
        for t in m.tensors:
            print(t["name"], t["type_name"], t["shape"], t["offset"], t["nbytes"])
    t = m.first_tensor_past_end()
    if t:
        print(f"first tensor past the end: {t['name']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
