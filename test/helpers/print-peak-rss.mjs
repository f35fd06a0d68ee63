// Preloaded into a child process (NODE_OPTIONS=--import=...): prints its peak RSS when it exits, for memory checks.
process.on('exit', () => process.stderr.write(`\npeak-rss-kb ${process.resourceUsage().maxRSS}\n`));
