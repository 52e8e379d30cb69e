// Following a background job of the app (frame comparison, phash backfill) until it ends.

import { api } from './api.js';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll a job; `onProgress(job)` after each poll; resolves with the finished job. */
export async function followJob(jobId, onProgress, { intervalMs = 400, signal } = {}) {
  for (;;) {
    const job = await api.job(jobId);
    onProgress?.(job);
    if (['done', 'failed', 'cancelled'].includes(job.state)) return job;
    if (signal?.aborted) return job;
    await sleep(intervalMs);
  }
}

export function progressText(job) {
  const parts = [];
  if (job.total) parts.push(`${job.done.toLocaleString()} / ${job.total.toLocaleString()}`);
  if (job.rate) parts.push(`${job.rate.toFixed(1)}/s`);
  if (job.eta_seconds !== null && job.eta_seconds !== undefined) {
    parts.push(`ETA ${Math.ceil(job.eta_seconds)} s`);
  }
  if (job.failed) parts.push(`${job.failed} failed`);
  return parts.join(' · ');
}
