/** An error the CLI prints as its one-line message (no stack), exiting with `exitCode`. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
}
