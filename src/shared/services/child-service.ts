import { spawn, type ChildProcess } from 'node:child_process';
import { waitForPort } from './wait-for.js';

export interface LocalService {
  /** How clients reach it, e.g. redis://127.0.0.1:6390 */
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Starts a server process that listens on `port`; stop() ends it and waits for its exit. */
export async function startChildService(
  name: string,
  command: string,
  args: string[],
  port: number,
  url: string,
): Promise<LocalService> {
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new Error(`cannot start ${name} (${command}): ${err.message}`)));
    child.once('exit', (code) =>
      reject(new Error(`${name} exited with code ${code} before listening: ${stderr.trim()}`)),
    );
  });
  spawnError.catch(() => {});
  try {
    await Promise.race([waitForPort(port), spawnError]);
  } catch (err) {
    child.kill('SIGKILL'); // one that never listened must not outlive the error
    throw err;
  }
  return {
    url,
    port,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
