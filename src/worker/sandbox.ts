import { handleScoreJob } from './handle-job.js';
import { sandboxProcessor } from './sandbox-entry.js';

/** The score queue's sandbox entry: batch, settle and finalize jobs (see sandbox-entry.ts). */
export default sandboxProcessor(handleScoreJob);
