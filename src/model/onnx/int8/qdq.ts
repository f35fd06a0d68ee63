// Static INT8 quantisation of an exported FP32 graph in QDQ form: QuantizeLinear/DequantizeLinear pairs
// around every Conv's input and output and every Add, int8 per-channel weights and int32 biases behind
// DequantizeLinear. ONNX Runtime's QDQ transformers turn each DQ -> Conv -> Q group into one QLinearConv
// (and DQ, DQ -> Add -> Q into QLinearAdd) at session creation. Pure: bytes in, bytes out.
import { onnx, type OnnxTypes } from '../proto.js';
import { type Range, uint8Params } from './ranges.js';

const DT = onnx.TensorProto.DataType;
type Node = OnnxTypes.INodeProto;
type Tensor = OnnxTypes.ITensorProto;

/** Ops quantised; everything else (MaxPool aside, which passes uint8 through) stays FP32 between a DQ and the next Q. */
const QUANT_OPS = new Set(['Conv', 'Add']);

export const nodeName = (n: Node): string => n.name || n.output![0];

export interface QdqPlan {
  /** Conv / Add nodes made INT8, by name. */
  quantOps: string[];
  /** Tensors whose calibrated range sets a Q/DQ pair (what calibration must measure). */
  calibrate: string[];
  /** ReLU output -> the tensor before it: the ReLU is dropped, a uint8 Q with zero point 0 clamps at 0 the same way. */
  fusedRelu: Map<string, string>;
  /** MaxPool output -> its input: max commutes with a monotone quantiser, so it reuses the input's parameters and runs on uint8. */
  sameAs: Map<string, string>;
}

function indexGraph(g: OnnxTypes.IGraphProto) {
  const inits = new Set((g.initializer ?? []).map((t) => t.name!));
  const consumers = new Map<string, Node[]>();
  const producer = new Map<string, Node>();
  for (const n of g.node ?? []) {
    for (const i of n.input ?? []) consumers.set(i, [...(consumers.get(i) ?? []), n]);
    for (const o of n.output ?? []) producer.set(o, n);
  }
  const outputs = new Set((g.output ?? []).map((o) => o.name!));
  return { inits, consumers, producer, outputs };
}

/** Which tensors get Q/DQ, for a graph and the Conv/Add nodes to keep in FP32 (by name). */
export function planQdq(g: OnnxTypes.IGraphProto, keepFp32: ReadonlySet<string> = new Set()): QdqPlan {
  const { inits, consumers, outputs } = indexGraph(g);
  // 'name' is one node; 'prefix*' every Conv/Add whose name starts with prefix (e.g. bn5* for ResNet's stage 5 convolutions).
  const matches = (k: string, n: Node) =>
    k.endsWith('*') ? nodeName(n).startsWith(k.slice(0, -1)) : nodeName(n) === k;
  const unknown = [...keepFp32].filter((k) => !(g.node ?? []).some((n) => QUANT_OPS.has(n.opType!) && matches(k, n)));
  if (unknown.length) throw new Error(`--keep-fp32 ${unknown.join(',')}: not a Conv or Add node of this graph`);
  const kept = (n: Node) => [...keepFp32].some((k) => matches(k, n));
  const quant = (g.node ?? []).filter((n) => QUANT_OPS.has(n.opType!) && !kept(n));
  const tensors = new Set<string>();
  const fusedRelu = new Map<string, string>();
  for (const n of quant) {
    const acts = n.opType === 'Conv' ? [n.input![0]] : n.input!;
    for (const i of acts) if (!inits.has(i)) tensors.add(i);
    const out = n.output![0];
    const cs = consumers.get(out) ?? [];
    if (cs.length === 1 && cs[0].opType === 'Relu' && !outputs.has(out)) {
      const reluOut = cs[0].output![0];
      fusedRelu.set(reluOut, out);
      tensors.add(reluOut);
    } else tensors.add(out);
  }
  // A ReLU whose input is not a quantised op's output stays; its output is still quantised.
  const sameAs = new Map<string, string>();
  for (const n of g.node ?? [])
    if (n.opType === 'MaxPool' && tensors.has(n.input![0])) sameAs.set(n.output![0], n.input![0]);
  for (const t of sameAs.keys()) tensors.add(t);
  return { quantOps: quant.map(nodeName), calibrate: [...tensors].filter((t) => !sameAs.has(t)), fusedRelu, sameAs };
}

const raw = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();

function floatsOf(t: Tensor): Float32Array {
  if (t.dataType !== DT.FLOAT) throw new Error(`initializer ${t.name} is not float32`);
  if (t.rawData?.length) {
    const b = t.rawData;
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  }
  return Float32Array.from(t.floatData ?? []);
}

/** Per-output-channel symmetric int8 weights: scale = max|w| / 127 per channel (axis 0), zero point 0. */
export function quantizeWeights(w: Float32Array, channels: number): { q: Int8Array; scales: Float32Array } {
  if (w.length % channels) throw new Error(`weights of ${w.length} values do not split into ${channels} channels`);
  const per = w.length / channels;
  const q = new Int8Array(w.length);
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    let m = 0;
    for (let i = c * per; i < (c + 1) * per; i++) m = Math.max(m, Math.abs(w[i]));
    const s = Math.fround(m > 0 ? m / 127 : 1);
    scales[c] = s;
    for (let i = c * per; i < (c + 1) * per; i++) q[i] = Math.max(-127, Math.min(127, Math.round(w[i] / s)));
  }
  return { q, scales };
}

/** int32 bias at scale inputScale * weightScale[c], as QLinearConv reads it. */
export function quantizeBias(
  b: Float32Array,
  inputScale: number,
  weightScales: Float32Array,
): { q: Int32Array; scales: Float32Array } {
  const scales = weightScales.map((s) => Math.fround(Math.fround(inputScale) * s));
  const q = new Int32Array(b.length);
  for (let c = 0; c < b.length; c++) q[c] = Math.max(-2147483647, Math.min(2147483647, Math.round(b[c] / scales[c])));
  return { q, scales };
}

export interface QuantizeOptions {
  /** Calibrated range of every tensor in plan.calibrate. */
  ranges: Record<string, Range>;
  keepFp32?: ReadonlySet<string>;
  /** Added to metadata_props (e.g. the calibration method and image count). */
  metadata?: Record<string, string>;
}

/** The QDQ INT8 model of an FP32 model; throws naming any tensor the ranges lack. */
export function quantizeModel(fp32: OnnxTypes.IModelProto, opts: QuantizeOptions): OnnxTypes.IModelProto {
  const g = fp32.graph!;
  const plan = planQdq(g, opts.keepFp32);
  const missing = plan.calibrate.filter((t) => !opts.ranges[t]);
  if (missing.length)
    throw new Error(
      `no calibrated range for ${missing.length} tensor(s) (${missing.slice(0, 3).join(', ')}…): calibrate again for this export (cxr models export-onnx --int8 --calibration-data DIR)`,
    );
  const initByName = new Map((g.initializer ?? []).map((t) => [t.name!, t]));
  const params = new Map<string, { scale: number; zeroPoint: number }>();
  for (const t of plan.calibrate) params.set(t, uint8Params(opts.ranges[t]));
  for (const [out, src] of plan.sameAs) params.set(out, params.get(src)!);

  const inits: Tensor[] = [];
  const names = new Set([
    ...(g.node ?? []).flatMap((n) => [...(n.output ?? []), ...(n.input ?? [])]),
    ...initByName.keys(),
  ]);
  const unique = (stem: string): string => {
    let n = stem;
    for (let i = 1; names.has(n); i++) n = `${stem}_${i}`;
    names.add(n);
    return n;
  };
  const init = (stem: string, dataType: number, dims: number[], data: ArrayBufferView): string => {
    const name = unique(stem);
    inits.push({ name, dataType, dims, rawData: raw(data) });
    return name;
  };
  // One scale / zero-point initializer pair per quantised tensor, shared by its Q and DQs.
  const qp = new Map<string, [string, string]>();
  const qpOf = (t: string): [string, string] => {
    let v = qp.get(t);
    if (!v) {
      const p = params.get(t)!;
      v = [
        init(`${t}_scale`, DT.FLOAT, [], Float32Array.of(p.scale)),
        init(`${t}_zp`, DT.UINT8, [], Uint8Array.of(p.zeroPoint)),
      ];
      qp.set(t, v);
    }
    return v;
  };
  const quantised = new Set([...plan.calibrate, ...plan.sameAs.keys()]);
  const qName = new Map<string, string>([...quantised].map((t) => [t, unique(`${t}_q`)]));
  const fusedSource = new Map([...plan.fusedRelu].map(([reluOut, pre]) => [pre, reluOut]));
  const quantOps = new Set(plan.quantOps);
  const usedInits = new Set<string>();
  const out: Node[] = [];
  const dq = (x: string, scale: string, zp: string, stem: string, axis?: number): string => {
    const y = unique(stem);
    out.push({
      opType: 'DequantizeLinear',
      input: [x, scale, zp],
      output: [y],
      name: y,
      attribute: axis === undefined ? [] : [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: axis }],
    });
    return y;
  };

  for (const n of g.node ?? []) {
    if (n.opType === 'Relu' && plan.fusedRelu.has(n.output![0])) continue; // the Q after its input clamps at 0 instead
    const inputs = [...(n.input ?? [])];
    // Each consumer gets its own DQ: ORT's QDQ selectors want a DQ that feeds one node.
    inputs.forEach((i, k) => {
      if (quantised.has(i)) inputs[k] = dq(qName.get(i)!, ...qpOf(i), `${i}_dq`);
    });
    if (n.opType === 'Conv' && quantOps.has(nodeName(n))) {
      const w = initByName.get(inputs[1]);
      if (!w) throw new Error(`Conv ${nodeName(n)}: its weights ${inputs[1]} are not an initializer`);
      const dims = (w.dims ?? []).map(Number);
      const { q, scales } = quantizeWeights(floatsOf(w), dims[0]);
      const zeros = new Int8Array(dims[0]);
      inputs[1] = dq(
        init(`${w.name}_q`, DT.INT8, dims, q),
        init(`${w.name}_scale`, DT.FLOAT, [dims[0]], scales),
        init(`${w.name}_zp`, DT.INT8, [dims[0]], zeros),
        `${w.name}_dq`,
        0,
      );
      if (inputs[2]) {
        const b = initByName.get(inputs[2]);
        if (!b) throw new Error(`Conv ${nodeName(n)}: its bias ${inputs[2]} is not an initializer`);
        const xScale = params.get(n.input![0])!.scale;
        const qb = quantizeBias(floatsOf(b), xScale, scales);
        inputs[2] = dq(
          init(`${b.name}_q`, DT.INT32, [dims[0]], qb.q),
          init(`${b.name}_scale`, DT.FLOAT, [dims[0]], qb.scales),
          init(`${b.name}_zp`, DT.INT32, [dims[0]], new Int32Array(dims[0])),
          `${b.name}_dq`,
          0,
        );
      }
    }
    for (const i of inputs) if (initByName.has(i)) usedInits.add(i);
    out.push({ ...n, input: inputs });
    for (const o of n.output ?? []) {
      // The Q of a fused ReLU's output sits on the tensor before the ReLU.
      const t = quantised.has(o) ? o : fusedSource.get(o);
      if (t === undefined) continue;
      out.push({
        opType: 'QuantizeLinear',
        input: [o, ...qpOf(t)],
        output: [qName.get(t)!],
        name: qName.get(t)!,
        attribute: [],
      });
    }
  }
  return {
    ...fp32,
    graph: { ...g, node: out, initializer: [...(g.initializer ?? []).filter((t) => usedInits.has(t.name!)), ...inits] },
    metadataProps: [
      ...(fp32.metadataProps ?? []),
      ...Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
    ],
  };
}
