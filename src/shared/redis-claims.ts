import type { Redis } from 'ioredis';
import type { Claims } from './s3/put-if-absent.js';

/** First-writer claims in Redis (SET NX), for object stores that ignore conditional PUTs. */
export class RedisClaims implements Claims {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(name: string): string {
    return `${this.prefix}:claim:${name}`;
  }

  async claim(name: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.key(name), value, 'PX', ttlMs, 'NX')) === 'OK';
  }

  async holder(name: string): Promise<string | undefined> {
    return (await this.redis.get(this.key(name))) ?? undefined;
  }

  async settle(name: string, value: string): Promise<void> {
    await this.redis.set(this.key(name), value);
  }

  async release(name: string): Promise<void> {
    await this.redis.del(this.key(name));
  }
}
