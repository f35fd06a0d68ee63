import type { Command } from 'commander';
import { Queue } from 'bullmq';
import { ConnectionWatch } from '../../shared/connection-watch.js';
import { redisTarget } from '../../shared/config.js';
import { UsageError } from '../../shared/errors.js';
import { createLogger } from '../../shared/logger.js';
import { queueErrorsTo, SCORE_QUEUE } from '../../shared/queue.js';
import { createWorkerRedis } from '../../shared/redis-connection.js';
import { EVAL_QUEUE } from '../../eval/types.js';
import { TRAIN_QUEUE } from '../../train-queue/jobs.js';
import { dashboardAuth, startDashboard } from '../../dashboard/server.js';
import { tcpPort } from '../parse.js';
import { configFrom, type GlobalFlags } from '../runtime.js';

interface DashboardFlags {
  port: number;
  host: string;
  readOnly?: boolean;
}

export function registerDashboard(program: Command, globals: () => GlobalFlags): void {
  program
    .command('dashboard')
    .description('serve a queue dashboard (bull-board) over the score, train and eval queues; Ctrl-C stops it')
    .option('--port <port>', 'port to listen on', tcpPort('--port'), 3000)
    .option(
      '--host <address>',
      'address to listen on; off loopback it needs CXR_DASHBOARD_USER and CXR_DASHBOARD_PASSWORD (basic auth)',
      '127.0.0.1',
    )
    .option('--read-only', 'no retry, promote, clean or delete buttons')
    .action(async (flags: DashboardFlags) => {
      const config = configFrom(globals());
      let auth;
      try {
        auth = dashboardAuth(flags.host, process.env);
      } catch (err) {
        throw new UsageError((err as Error).message, { cause: err });
      }
      const logger = createLogger({ role: 'dashboard' });
      const redis = createWorkerRedis(redisTarget(config)); // with the TLS settings (CXR_REDIS_TLS_*)
      new ConnectionWatch(logger, redisTarget(config)).attach(redis);
      // Observers (skipMetasUpdate): the producers' queues set the queue's meta, such as the event stream cap.
      const queues = [SCORE_QUEUE, TRAIN_QUEUE, EVAL_QUEUE].map(
        (name) => new Queue(name, { connection: redis, prefix: config.queuePrefix, skipMetasUpdate: true }),
      );
      for (const q of queues)
        queueErrorsTo(q, (err) => logger.error({ queue: q.name, err: err.message }, 'queue error'));
      const server = await startDashboard({
        queues,
        port: flags.port,
        host: flags.host,
        auth,
        readOnly: flags.readOnly,
      });
      const where = `http://${flags.host.includes(':') ? `[${flags.host}]` : flags.host}:${flags.port}/`;
      process.stdout.write(`dashboard: ${where}${auth ? ' (basic auth)' : ''}\n`);
      const stop = () => {
        server.close();
        void Promise.all(queues.map((q) => q.close())).finally(() => (redis.disconnect(), process.exit(0)));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
