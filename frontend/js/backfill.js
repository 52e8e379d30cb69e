// "Compute missing": the phashes grouping needs, then the videos' frame fingerprints the
// Overlaps list needs, as two jobs one after the other, their progress in one bar.

import { api } from './api.js';
import { h, mount } from './dom.js';
import { followJob, progressText } from './jobs.js';
import { toast } from './ui.js';

let running = null;

export async function startBackfill(onFinished) {
  if (running) return;
  const bar = h('div', { class: 'job-bar', id: 'backfill-bar' });
  document.body.append(bar);
  try {
    const phashes = await runStep(bar, 'Computing phashes', api.backfill);
    if (phashes?.state === 'done') {
      toast(`Phashes computed: ${phashes.done - phashes.failed} files`, 'good');
      const prints = await runStep(bar, 'Taking frame fingerprints (for Overlaps)',
        api.computeFingerprints);
      if (prints?.state === 'done' && prints.total) {
        toast(`Fingerprints taken: ${prints.done - prints.failed} videos`, 'good');
      }
    }
  } finally {
    bar.remove();
    running = null;
  }
  onFinished?.();
}

/** Start one job (or join the one running) and show its progress until it ends. */
async function runStep(bar, label, start) {
  let job;
  try {
    job = await start();
  } catch (error) {
    toast(error.message, 'error');
    return null;
  }
  running = job.job_id;
  const control = (action) => action(running).catch((error) => toast(error.message, 'error'));
  job = await followJob(running, (progress) => {
    mount(bar,
      h('span', {}, h('span', { class: 'spinner' }), ` ${label}: `,
        progressText(progress) || 'starting…'),
      progress.state === 'paused'
        ? h('button', { type: 'button', class: 'button', onClick: () => control(api.resumeJob) },
          'Resume')
        : h('button', { type: 'button', class: 'button', onClick: () => control(api.pauseJob) },
          'Pause'),
      h('button', { type: 'button', class: 'button', onClick: () => control(api.cancelJob) },
        'Cancel'));
  }, { intervalMs: 700 });
  if (job.state === 'failed') toast(job.message, 'error');
  return job;
}
