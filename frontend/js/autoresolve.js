// "Resolve automatically": preview the groups of the current filter whose every copy matches
// the suggested keeper above a threshold; nothing is removed until the user confirms.

import { api } from './api.js';
import { h, mount } from './dom.js';
import { basename, bytes, count } from './format.js';
import { followJob, progressText } from './jobs.js';
import { confirmPlan } from './removal.js';
import { dialog } from './ui.js';

/** Resolves with the removal result, or null when nothing was removed. */
export function autoResolve(filter) {
  return new Promise((resolve) => {
    let outcome = null;
    let jobId = null;
    // In percent, like the scores it is compared with ("98%"); the API takes a fraction.
    const threshold = h('input', { type: 'number', id: 'auto-threshold', class: 'narrow',
      min: 1, max: 100, step: 1, value: '80' });
    const results = h('div', { class: 'auto-results', id: 'auto-results' });
    const previewButton = h('button', { type: 'button', class: 'button button-primary',
      id: 'auto-preview', onClick: preview }, 'Preview');
    const { close } = dialog({
      title: 'Resolve automatically',
      className: 'auto-dialog',
      body: h('div', {},
        h('p', { class: 'muted' }, 'Compares every group of the current filter with its '
          + 'suggested keeper (frames for videos, pictures for images). Groups whose every copy '
          + 'scores at least the threshold are resolved by your keeper rules; the others stay '
          + 'for you to review.'),
        h('div', { class: 'field-row' }, h('label', { for: 'auto-threshold' },
          'Threshold (similarity)'), threshold, h('span', {}, '%'), previewButton),
        results),
      onClose: () => {
        if (jobId && !outcome) api.cancelJob(jobId).catch(() => {});
        resolve(outcome);
      },
    });

    async function preview() {
      const percent = Number(threshold.value);
      if (!(threshold.value !== '' && percent > 0 && percent <= 100)) {
        mount(results, h('p', { class: 'inline-error' },
          'The threshold is a similarity in percent: above 0, at most 100.'));
        threshold.setAttribute('aria-invalid', 'true');
        return;
      }
      threshold.removeAttribute('aria-invalid');
      previewButton.disabled = true;
      mount(results, h('p', {}, h('span', { class: 'spinner' }), ' Comparing…'));
      let job;
      try {
        const started = await api.autoResolve(filter, percent / 100);
        jobId = started.job_id;
        job = await followJob(jobId, (progress) => mount(results, h('p', {},
          h('span', { class: 'spinner' }), ` Comparing groups: ${progressText(progress)} `,
          h('span', { class: 'muted small' }, basename(progress.message || '')))));
      } catch (error) {
        mount(results, h('p', { class: 'inline-error' }, error.message));
        previewButton.disabled = false;
        return;
      }
      previewButton.disabled = false;
      if (job.state !== 'done') {
        mount(results, h('p', { class: 'inline-error' }, job.message || `Stopped (${job.state}).`));
        return;
      }
      show(job.result);
    }

    function show(result) {
      const removing = result.resolved.flatMap((group) => group.remove);
      const keepers = result.resolved.map((group) => group.keeper);
      mount(results,
        h('p', {}, h('b', {}, `${count(result.resolved.length, 'group')} resolve`),
          `: remove ${count(removing.length, 'file')} (${bytes(result.bytes)}); `
          + `${count(result.unresolved.length, 'group')} left to review.`),
        h('ul', { class: 'path-list auto-list' }, result.resolved.map((group) => h('li', {},
          h('div', { class: 'keep-path' }, '✓ ', group.keeper.path),
          group.remove.map((file) => h('div', { class: 'remove-path',
            dataset: { path: file.path } }, '✕ ', file.path,
            h('span', { class: 'muted' }, `  ${Math.round((file.score ?? 0) * 100)}%  `
              + bytes(file.size)))),
          (group.protected || []).map((file) => h('div', { class: 'keep-path protected-copy',
            dataset: { path: file.path } }, '✓ ', file.path,
            h('span', { class: 'muted' }, `  kept: ${file.reason}`)))))),
        result.unresolved.length ? h('details', {},
          h('summary', {}, 'Why the others are left'),
          h('ul', { class: 'path-list' }, result.unresolved.map((group) => h('li', {},
            `${group.group_id}: ${group.reason}`)))) : null,
        h('div', { class: 'dialog-actions inline-actions' },
          h('button', { type: 'button', class: 'button button-danger', id: 'auto-remove',
            disabled: removing.length === 0, onClick: async () => {
              const removed = await confirmPlan({ title: 'Remove what auto-resolve found',
                plan: result.plan, remove: removing, keep: keepers });
              if (removed) {
                outcome = removed;
                close();
              }
            } }, `Remove ${count(removing.length, 'file')}…`)));
    }
  });
}
