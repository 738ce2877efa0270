#!/usr/bin/env python3
# t/onnx_check.py - checks an ONNX file libcnn exported (t/export_onnx.sh):
#
#   onnx_check.py MODEL.onnx SOFTMAX C H W K SCALE
#
# onnx.checker.check_model(full_check=True) (which runs shape inference),
# then what cnn_model_export promises: IR version 7, opset 13 of the default
# domain, producer libcnn, the input "input" float32 [N, C, H, W] with a
# symbolic N, the outputs "probabilities" [N, K] and "logits" [N, K]
# exactly when SOFTMAX is 1, the metadata input_scale (SCALE as a float)
# and input_layout, and no Dropout node. Prints one line per failed check and
# exits 1 when any failed, 0 otherwise.
import struct
import sys

import onnx


def dims(value):
    """The shape of a graph input or output: ints and dim_param names."""
    out = []
    for d in value.type.tensor_type.shape.dim:
        out.append(d.dim_param if d.HasField("dim_param") else d.dim_value)
    return out


def f32(text):
    """text as a float32, or None when it is no number."""
    try:
        return struct.unpack("f", struct.pack("f", float(text)))[0]
    except (TypeError, ValueError):
        return None


def main(argv):
    path, softmax = argv[1], argv[2] == "1"
    c, h, w, k = (int(x) for x in argv[3:7])
    scale = argv[7]
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    bad = []

    def want(got, expected, what):
        if got != expected:
            bad.append("%s: got %r, want %r" % (what, got, expected))

    want(model.ir_version, 7, "ir_version")
    want([(o.domain, o.version) for o in model.opset_import], [("", 13)],
         "opset_import")
    want(model.producer_name, "libcnn", "producer_name")
    want(bool(model.producer_version), True, "producer_version set")
    g = model.graph
    want([(i.name, i.type.tensor_type.elem_type, dims(i)) for i in g.input],
         [("input", onnx.TensorProto.FLOAT, ["N", c, h, w])], "inputs")
    outs = [("probabilities", ["N", k])]
    if softmax:
        outs.append(("logits", ["N", k]))
    want([(o.name, dims(o)) for o in g.output], outs, "outputs")
    meta = {p.key: p.value for p in model.metadata_props}
    # the double libcnn scales by, SCALE the float it multiplies in
    want(f32(meta.get("input_scale")), f32(scale), "metadata input_scale")
    want(meta.get("input_layout"), "NCHW float32, pixels times input_scale",
         "metadata input_layout")
    want([n.name for n in g.node if n.op_type == "Dropout"], [],
         "Dropout nodes")
    names = [n.name for n in g.node]
    want(len(set(names)), len(names), "distinct node names")
    for line in bad:
        print(line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
