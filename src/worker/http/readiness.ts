/**
 * Whether this worker should get work: Redis answers, the model is loaded (when the worker scores) and it
 * is not draining. The model counts as loaded once the start-up check loaded it and scored a blank image,
 * or a sandbox scored a batch; a batch failing on model load makes it unready until one scores again.
 */
export class Readiness {
  private model: 'unchecked' | 'loaded' | 'failed' = 'unchecked';
  private draining = false;

  constructor(
    private readonly needsModel: boolean,
    private readonly redisAnswers: () => Promise<boolean>,
  ) {}

  modelLoaded(): void {
    this.model = 'loaded';
  }

  modelFailed(): void {
    this.model = 'failed';
  }

  drain(): void {
    this.draining = true;
  }

  async check(): Promise<{ ready: boolean; redis: boolean; model: string; draining: boolean }> {
    const redis = await this.redisAnswers();
    const model = this.needsModel ? this.model : 'not needed';
    const ready = redis && !this.draining && (!this.needsModel || this.model === 'loaded');
    return { ready, redis, model, draining: this.draining };
  }
}
