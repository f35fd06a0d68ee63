import { onnx, type OnnxTypes } from './proto.js';

export type Attr =
  | { name: string; int: number }
  | { name: string; ints: number[] }
  | { name: string; float: number }
  | { name: string; string: string };

const AT = onnx.AttributeProto.AttributeType;
const DT = onnx.TensorProto.DataType;

function attribute(a: Attr): OnnxTypes.IAttributeProto {
  if ('int' in a) return { name: a.name, type: AT.INT, i: a.int };
  if ('ints' in a) return { name: a.name, type: AT.INTS, ints: a.ints };
  if ('float' in a) return { name: a.name, type: AT.FLOAT, f: a.float };
  return { name: a.name, type: AT.STRING, s: new TextEncoder().encode(a.string) };
}

const bytesOf = (v: Float32Array | BigInt64Array): Uint8Array => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

/** Collects nodes and initializers (raw little-endian data) for one ONNX graph. */
export class GraphBuilder {
  readonly nodes: OnnxTypes.INodeProto[] = [];
  readonly initializers: OnnxTypes.ITensorProto[] = [];
  private readonly names = new Set<string>();

  /** A fresh tensor name based on `stem`. */
  unique(stem: string): string {
    let name = stem;
    for (let i = 1; this.names.has(name); i++) name = `${stem}_${i}`;
    this.names.add(name);
    return name;
  }

  floatInit(stem: string, dims: number[], data: Float32Array): string {
    if (dims.reduce((a, b) => a * b, 1) !== data.length)
      throw new Error(`initializer ${stem}: dims [${dims.join(',')}] do not hold ${data.length} values`);
    const name = this.unique(stem);
    this.initializers.push({ name, dims, dataType: DT.FLOAT, rawData: bytesOf(data) });
    return name;
  }

  int64Init(stem: string, values: number[]): string {
    const name = this.unique(stem);
    this.initializers.push({
      name,
      dims: [values.length],
      dataType: DT.INT64,
      rawData: bytesOf(BigInt64Array.from(values.map(BigInt))),
    });
    return name;
  }

  /** Adds a node whose single output gets a fresh name from `stem`; returns that name. */
  node(opType: string, inputs: string[], stem: string, attrs: Attr[] = []): string {
    const out = this.unique(stem);
    this.nodes.push({ opType, input: inputs, output: [out], name: out, attribute: attrs.map(attribute) });
    return out;
  }
}

export type Dim = number | string;

/** A float32 tensor value description; string dims are symbolic (e.g. the batch 'N'). */
export function floatValueInfo(name: string, dims: Dim[]): OnnxTypes.IValueInfoProto {
  return valueInfo(name, dims, false);
}

/** A float32 (or float16) tensor value description. */
export function valueInfo(name: string, dims: Dim[], float16: boolean): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: float16 ? DT.FLOAT16 : DT.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}
