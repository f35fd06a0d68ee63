/** One slot's batch waiting for the executor. */
export interface Request {
  input: Float32Array;
  n: number;
  resolve(p: Float32Array): void;
  reject(err: Error): void;
}

/**
 * Dynamic batching across job slots (as Triton does): requests wait up to `waitMs` for others, then run
 * together as one tensor of at most `maxBatch` images (a larger request runs alone). One run at a time.
 */
export class Batcher {
  private readonly pending: Request[] = [];
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    private readonly run: (input: Float32Array, n: number) => Promise<Float32Array>,
    private readonly maxBatch: number,
    private readonly waitMs: number,
    private readonly onBatch: (images: number, requests: number) => void = () => undefined,
  ) {}

  submit(input: Float32Array, n: number): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      this.pending.push({ input, n, resolve, reject });
      this.schedule();
    });
  }

  private queued(): number {
    return this.pending.reduce((s, r) => s + r.n, 0);
  }

  private schedule(): void {
    if (this.running || this.pending.length === 0) return;
    if (this.queued() >= this.maxBatch) return void this.flush();
    this.timer ??= setTimeout(() => this.flush(), this.waitMs);
  }

  private async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running || this.pending.length === 0) return;
    const take: Request[] = [this.pending.shift()!];
    let n = take[0].n;
    while (this.pending.length && n + this.pending[0].n <= this.maxBatch) {
      const next = this.pending.shift()!;
      take.push(next);
      n += next.n;
    }
    this.running = true;
    try {
      const size = take[0].input.length / take[0].n;
      const input = take.length === 1 ? take[0].input : new Float32Array(n * size);
      if (take.length > 1) take.reduce((at, r) => (input.set(r.input, at * size), at + r.n), 0);
      const out = await this.run(input, n);
      this.onBatch(n, take.length);
      take.reduce((at, r) => (r.resolve(out.slice(at, at + r.n)), at + r.n), 0);
    } catch (err) {
      for (const r of take) r.reject(err as Error);
    } finally {
      this.running = false;
      this.schedule();
    }
  }
}
