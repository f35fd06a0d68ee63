import { handleTrainJob } from '../train-queue/handle-train-job.js';
import { sandboxProcessor } from './sandbox-entry.js';

/** The train queue's sandbox entry: shard and merge jobs (see sandbox-entry.ts); score sandboxes never load this code. */
export default sandboxProcessor(handleTrainJob);
