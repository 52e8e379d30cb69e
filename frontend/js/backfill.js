// "Compute missing phashes": start the backfill job and show its progress in the summary bar.

import { api } from './api.js';
import { h, mount } from './dom.js';
import { followJob, progressText } from './jobs.js';
import { toast } from './ui.js';

let running = null;

export async function startBackfill(onFinished) {
  if (running) return;
  let job;
  try {
    job = await api.backfill();
  } catch (error) {
    toast(error.message, 'error');
    return;
  }
  running = job.job_id;
  const bar = h('div', { class: 'job-bar', id: 'backfill-bar' });
  document.body.append(bar);
  const control = (action) => action(running).catch((error) => toast(error.message, 'error'));
  try {
    job = await followJob(running, (progress) => {
      mount(bar,
        h('span', {}, h('span', { class: 'spinner' }), ' Computing phashes: ',
          progressText(progress) || 'starting…'),
        progress.state === 'paused'
          ? h('button', { type: 'button', class: 'button', onClick: () => control(api.resumeJob) },
            'Resume')
          : h('button', { type: 'button', class: 'button', onClick: () => control(api.pauseJob) },
            'Pause'),
        h('button', { type: 'button', class: 'button', onClick: () => control(api.cancelJob) },
          'Cancel'));
    }, { intervalMs: 700 });
  } finally {
    bar.remove();
    running = null;
  }
  if (job.state === 'done') toast(`Phashes computed: ${job.done - job.failed} files`, 'good');
  else if (job.state === 'failed') toast(job.message, 'error');
  onFinished?.();
}
