import { defineConfig } from 'vitest/config';
import { faultsProject } from './project.js';

// The fault suite alone (npm run test:faults); npm test runs it within the main config (vitest.config.ts).
export default defineConfig({ test: faultsProject.test });
