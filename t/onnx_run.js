// t/onnx_run.js - runs an exported ONNX model with ONNX Runtime for Node
// (t/export_onnx.sh):
//
//   node onnx_run.js MODEL.onnx INPUT.f32 N C H W EXPECTED.f32
//
// feeds the first N samples of INPUT.f32 (float32 N x C x H x W, this
// machine's byte order, as t/fwd_dump writes it) as "input" and prints
//   outputs NAME,...          the model's output names
//   shape D,...               the dimensions of "probabilities"
//   diff X                    max |probabilities - EXPECTED| (the first N rows)
//   logits X                  max |softmax(logits) - probabilities|, if any
const ort = require('onnxruntime-node');
const fs = require('fs');

// The first count floats of a file.
function floats(path, count) {
  const buf = fs.readFileSync(path);
  if (buf.length < count * 4) throw new Error(`${path}: fewer than ${count} floats`);
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + count * 4));
}

async function main() {
  const [model, input, ...rest] = process.argv.slice(2, 8);
  const dims = rest.map(Number);
  const x = floats(input, dims.reduce((a, b) => a * b));
  const session = await ort.InferenceSession.create(model);
  const out = await session.run({ input: new ort.Tensor('float32', x, dims) });
  const p = out.probabilities;
  const want = floats(process.argv[8], p.data.length);
  let diff = 0;
  p.data.forEach((v, i) => { diff = Math.max(diff, Math.abs(v - want[i])); });
  console.log(`outputs ${session.outputNames.join(',')}`);
  console.log(`shape ${p.dims.join(',')}`);
  console.log(`diff ${diff}`);
  if (out.logits) {
    const k = p.dims[1], z = out.logits.data;
    let worst = 0;
    for (let r = 0; r < z.length / k; r++) {
      const row = z.slice(r * k, (r + 1) * k), mx = Math.max(...row);
      const e = row.map((v) => Math.exp(v - mx)), s = e.reduce((a, b) => a + b);
      e.forEach((v, j) => { worst = Math.max(worst, Math.abs(v / s - p.data[r * k + j])); });
    }
    console.log(`logits ${worst}`);
  }
}

main().catch((e) => { console.error(`onnx_run.js: ${e.message}`); process.exit(1); });
