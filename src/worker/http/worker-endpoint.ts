import type { Server } from 'node:http';
import { Queue, type Worker } from 'bullmq';
import { Gauge } from 'prom-client';
import type { ConnectionWatch } from '../../shared/connection-watch.js';
import { JOB_BATCH, queueErrorsTo } from '../../shared/queue.js';
import { createWorkerRedis } from '../../shared/redis-connection.js';
import { WorkerMetrics } from './prometheus.js';
import { exportQueues, within } from './queue-counts.js';
import { Readiness } from './readiness.js';
import { closeHttpServer, startHttpServer } from './server.js';

export interface EndpointOptions {
  port: number;
  host?: string;
  redis: Parameters<typeof createWorkerRedis>[0];
  prefix: string;
  queues: string[];
  watch: ConnectionWatch;
  /** The worker scores (score queue): readiness waits for the model. */
  needsModel: boolean;
}

/** `cxr worker --http-port`: health, readiness and Prometheus metrics of one worker process. */
export class WorkerEndpoint {
  readonly metrics = new WorkerMetrics();
  readonly readiness: Readiness;
  private server?: Server;
  private readonly redisUp: Gauge;

  private constructor(
    private readonly opts: EndpointOptions,
    private readonly redis = createWorkerRedis(opts.redis),
    // Observers (skipMetasUpdate): the producers' queues set the queue's meta, such as the event stream cap.
    private readonly queues = opts.queues.map(
      (name) => new Queue(name, { connection: redis, prefix: opts.prefix, skipMetasUpdate: true }),
    ),
  ) {
    opts.watch.attach(redis);
    for (const q of queues) queueErrorsTo(q, () => undefined);
    this.readiness = new Readiness(opts.needsModel, () => this.redisAnswers());
    this.redisUp = new Gauge({
      name: 'cxr_redis_up',
      help: 'Redis answered this scrape (the queue counts need it)',
      registers: [this.metrics.registry],
    });
  }

  static async start(opts: EndpointOptions): Promise<WorkerEndpoint> {
    const endpoint = new WorkerEndpoint(opts);
    endpoint.server = await startHttpServer(
      { readiness: endpoint.readiness, metrics: () => endpoint.render() },
      opts.port,
      opts.host,
    );
    return endpoint;
  }

  private async redisAnswers(): Promise<boolean> {
    if (!this.opts.watch.connected) return false;
    return within(this.redis.ping(), 1000, 'Redis PING').then(
      () => true,
      () => false,
    );
  }

  private async render(): Promise<{ text: string; contentType: string }> {
    const up = await this.redisAnswers();
    this.redisUp.set(up ? 1 : 0);
    const own = await this.metrics.registry.metrics();
    const counts = up
      ? await within(exportQueues(this.queues, { prefix: this.opts.prefix }), 2000, 'queue counts').catch(() => '')
      : '';
    return { text: own + counts, contentType: this.metrics.registry.contentType };
  }

  /** Counts the workers' jobs; a scored batch (or a batch failing on model load) updates readiness. */
  observe(workers: readonly Worker[], sandboxes: number): void {
    this.metrics.setSlots(sandboxes);
    for (const w of workers) {
      w.on('active', (job) => this.metrics.jobStarted(job.id));
      w.on('completed', (job, result: unknown) => {
        this.metrics.jobCompleted(job, result);
        if (job.name === JOB_BATCH && typeof (result as { scored?: unknown } | null)?.scored === 'number')
          this.readiness.modelLoaded();
      });
      w.on('failed', (job, err) => {
        this.metrics.jobFailed(job, err);
        if (/model load failed/.test(err.message)) this.readiness.modelFailed();
      });
    }
  }

  async close(): Promise<void> {
    if (this.server) await closeHttpServer(this.server);
    await Promise.all(this.queues.map((q) => q.close().catch(() => undefined)));
    this.redis.disconnect();
  }
}
