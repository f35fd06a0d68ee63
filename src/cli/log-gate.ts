/**
 * The CLI's log destination: stderr, except while a progress bar owns the terminal, when lines are held
 * and printed after it (nothing is dropped, and JSON lines never tear the bar).
 */
export class LogGate {
  private held: string[] | undefined;

  constructor(private readonly out: { write(s: string): unknown } = process.stderr) {}

  write(line: string): boolean {
    if (this.held) this.held.push(line);
    else this.out.write(line);
    return true;
  }

  /** Holds log lines until the returned function is called, which prints them. */
  hold(): () => void {
    this.held ??= [];
    return () => {
      const lines = this.held ?? [];
      this.held = undefined;
      for (const l of lines) this.out.write(l);
    };
  }
}
