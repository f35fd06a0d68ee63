/** 'null' is the engine for tests and benchmarks (see null-classifier.ts); the model engines are parsed by model/engine.ts. */
export function isNullEngine(value: string | undefined): boolean {
  return (value ?? '').trim().toLowerCase() === 'null';
}
