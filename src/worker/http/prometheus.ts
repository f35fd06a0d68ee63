import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FailureCounts } from './failure-class.js';
import { failureClass } from './failure-class.js';
import { JOB_SETTLE } from '../../shared/queue.js';

/** What a sandbox returns for a scored batch (see handle-job.ts); anything else is not a batch result. */
interface BatchResult {
  scored: number;
  failed: number;
  stageMs: Record<string, number>;
  failures?: FailureCounts;
}

function isBatchResult(v: unknown): v is BatchResult {
  const r = v as Partial<BatchResult> | null;
  return typeof r?.scored === 'number' && typeof r.failed === 'number' && typeof r.stageMs === 'object';
}

/** The worker process's own Prometheus metrics (the queue counts are appended by the HTTP endpoint). */
export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly scored: Counter;
  private readonly failed: Counter;
  private readonly batches: Counter;
  private readonly stageSeconds: Histogram;
  private readonly slots: Gauge;
  private readonly busy: Gauge;
  private readonly model: Gauge;
  private readonly active = new Set<string>();
  private readonly inferenceImages: Histogram;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.scored = new Counter({ name: 'cxr_images_scored_total', help: 'Images scored by this worker', registers });
    this.failed = new Counter({
      name: 'cxr_images_failed_total',
      help: 'Images that became failure lines, by stage and reason class',
      labelNames: ['stage', 'reason'],
      registers,
    });
    this.batches = new Counter({
      name: 'cxr_batches_total',
      help: 'Score-queue jobs this worker ended, by job name and outcome (a failed attempt may be retried)',
      labelNames: ['job', 'outcome', 'reason'],
      registers,
    });
    this.stageSeconds = new Histogram({
      name: 'cxr_batch_stage_duration_seconds',
      help: 'Wall time of each stage of a batch (download, decode, inference, upload)',
      labelNames: ['stage'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.slots = new Gauge({
      name: 'cxr_worker_sandboxes',
      help: 'Sandboxed job slots (processes) of this worker',
      registers,
    });
    this.busy = new Gauge({ name: 'cxr_worker_busy_sandboxes', help: 'Slots running a job now', registers });
    this.inferenceImages = new Histogram({
      name: 'cxr_inference_batch_images',
      help: 'Images per inference call of the shared executor (--inference shared), across job slots',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers,
    });
    this.model = new Gauge({
      name: 'cxr_model_info',
      help: 'The model this worker scores with (value 1)',
      labelNames: ['model_id', 'model_version', 'engine', 'backend'],
      registers,
    });
  }

  inferenceBatch(images: number, _requests: number): void {
    this.inferenceImages.observe(images);
  }

  setSlots(n: number): void {
    this.slots.set(n);
  }

  setModel(info: { id: string; version: string }, engine: string, backend: string): void {
    this.model.reset();
    this.model.set({ model_id: info.id, model_version: info.version, engine, backend }, 1);
  }

  jobStarted(id: string | undefined): void {
    this.active.add(id ?? '');
    this.busy.set(this.active.size);
  }

  private jobEnded(id: string | undefined): void {
    this.active.delete(id ?? '');
    this.busy.set(this.active.size);
  }

  /** A job completed; a batch result feeds the image counters and stage histograms. */
  jobCompleted(job: { id?: string; name: string }, result: unknown): void {
    this.jobEnded(job.id);
    this.batches.inc({ job: job.name, outcome: 'completed', reason: '' });
    // A settle job records the keys of a batch that used up its attempts as failures of stage 'batch'.
    const settled = (result as { failed?: unknown } | null)?.failed;
    if (job.name === JOB_SETTLE && typeof settled === 'number')
      this.failed.inc({ stage: 'batch', reason: 'attempts-exhausted' }, settled);
    if (!isBatchResult(result)) return;
    this.scored.inc(result.scored);
    for (const [stage, ms] of Object.entries(result.stageMs)) this.stageSeconds.observe({ stage }, ms / 1000);
    for (const [stage, byClass] of Object.entries(result.failures ?? {})) {
      for (const [reason, n] of Object.entries(byClass)) this.failed.inc({ stage, reason }, n);
    }
  }

  jobFailed(job: { id?: string; name: string } | undefined, err: Error): void {
    this.jobEnded(job?.id);
    this.batches.inc({
      job: job?.name ?? 'unknown',
      outcome: 'failed',
      reason: /model load failed/.test(err.message) ? 'model-load' : failureClass(err.message),
    });
  }
}
