import { describe, expect, it } from 'vitest';
import type * as Ort from 'onnxruntime-node';
import {
  createSession,
  defaultSessionMemory,
  importOrt,
  sessionMemory,
  type OrtModule,
} from '../../src/model/onnx/ort-session.js';
import { oodGraph } from '../../src/model/ood/ood-graph.js';

describe('ONNX Runtime session memory settings', () => {
  it('reads CXR_ORT_CPU_ARENA and CXR_ORT_MEM_PATTERN, defaulting to the measured settings per precision', () => {
    expect(sessionMemory({})).toEqual(defaultSessionMemory(false));
    expect(sessionMemory({ CXR_ORT_CPU_ARENA: '', CXR_ORT_MEM_PATTERN: '' })).toEqual(defaultSessionMemory(false));
    // FP32 without the arena (no speed lost), INT8 with it (a third of its speed without).
    expect(sessionMemory({}, false).cpuArena).toBe(true);
    expect(sessionMemory({}, true).cpuArena).toBe(true);
    expect(sessionMemory({ CXR_ORT_CPU_ARENA: 'false' }, true).cpuArena).toBe(false);
    expect(sessionMemory({ CXR_ORT_CPU_ARENA: 'true', CXR_ORT_MEM_PATTERN: '0' })).toEqual({
      cpuArena: true,
      memPattern: false,
    });
    expect(sessionMemory({ CXR_ORT_CPU_ARENA: 'NO', CXR_ORT_MEM_PATTERN: 'yes' })).toEqual({
      cpuArena: false,
      memPattern: true,
    });
    expect(() => sessionMemory({ CXR_ORT_CPU_ARENA: 'off' })).toThrow('CXR_ORT_CPU_ARENA="off": must be true or false');
  });

  it('creates the session with them: the options reach ONNX Runtime, and the session scores', async () => {
    const real = await importOrt();
    const seen: Ort.InferenceSession.SessionOptions[] = [];
    // The real module, with create() noting the options it was given.
    const InferenceSession = {
      create: async (model: Uint8Array, options: Ort.InferenceSession.SessionOptions) => {
        seen.push(options);
        return real.InferenceSession.create(model, options);
      },
    };
    const ort = { ...real, InferenceSession } as unknown as OrtModule;
    const graph = oodGraph({ dim: 2, mean: Float64Array.from([1, 1]), whitening: Float64Array.from([1, 0, 0, 1]) });
    for (const memory of [
      { cpuArena: false, memPattern: true },
      { cpuArena: true, memPattern: false },
    ]) {
      const { session, backend } = await createSession(ort, graph, 1, undefined, false, memory);
      expect(backend).toBe('onnxruntime-cpu');
      expect(seen.at(-1)).toMatchObject({ enableCpuMemArena: memory.cpuArena, enableMemPattern: memory.memPattern });
      const out = await session.run({ [session.inputNames[0]]: new real.Tensor('float32', [4, 1], [1, 2]) });
      // The distance of (4, 1) from (1, 1) under the identity whitening.
      expect(Array.from(out[session.outputNames[0]].data as Float32Array)).toEqual([3]);
      await session.release();
    }
    // Without an explicit setting, the environment's (here: the defaults).
    await (await createSession(ort, graph, 1, undefined, false)).session.release();
    expect(seen.at(-1)).toMatchObject({
      enableCpuMemArena: sessionMemory().cpuArena,
      enableMemPattern: sessionMemory().memPattern,
    });
  });
});
