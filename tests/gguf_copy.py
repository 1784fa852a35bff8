"""Reading a GGUF file into plain lists and writing such lists back with the `gguf` package,
for checks that build variants of a fixture (split shards, other weight types)."""
import numpy as np
from gguf import GGUFReader, GGUFWriter, GGUFValueType as VT, GGMLQuantizationType as QT


def read_gguf(path):
    """(kv: [(key, type, sub_type, value)], tensors: [(name, data, qtype, shape)]) of a file,
    the GGUF.* header fields left out."""
    r = GGUFReader(path)
    kv = []
    for k, f in r.fields.items():
        if k.startswith("GGUF."):
            continue
        t = f.types[0]
        if t == VT.ARRAY:
            sub = f.types[-1]
            val = [bytes(f.parts[i]) for i in f.data] if sub == VT.STRING else list(f.contents())
            kv.append((k, t, sub, val))
        elif t == VT.STRING:
            kv.append((k, t, None, bytes(f.parts[f.data[0]])))
        else:
            kv.append((k, t, None, f.contents()))
    tensors = [(t.name, np.array(t.data), QT(int(t.tensor_type)), [int(x) for x in t.shape]) for t in r.tensors]
    return kv, tensors


def write_gguf(path, kv, tensors):
    """Writes kv ([(key, type, sub_type, value)]) and tensors ([(name, data, qtype, ...)])."""
    w = GGUFWriter(path, "x")
    w.kv_data[0].clear()
    for k, t, sub, val in kv:
        w.add_key_value(k, val, t, sub_type=sub)
    for n, data, qt, *_ in tensors:
        w.add_tensor(n, data, raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
