// The summary bar at the top: library counts, phash coverage, files not found, what the
// filter finds (its groups and their reclaimable space, present files only).

import { h, mount } from './dom.js';
import { bytes } from './format.js';

export function renderSummary(summary, { onBackfill } = {}) {
  const bar = document.getElementById('summary');
  if (!summary) {
    mount(bar);
    return;
  }
  const missingVideos = summary.videos - summary.videos_with_phash;
  const missingImages = summary.images - summary.images_with_phash;
  const missing = missingVideos + missingImages;
  mount(bar,
    h('span', { class: 'stat', title: `${summary.videos_with_phash} with a phash` },
      h('b', {}, summary.videos.toLocaleString()), summary.videos === 1 ? ' video' : ' videos'),
    h('span', { class: 'stat', title: `${summary.images_with_phash} with a phash` },
      h('b', {}, summary.images.toLocaleString()), summary.images === 1 ? ' image' : ' images'),
    missing ? h('span', { class: 'stat stat-warn', id: 'missing-phash',
      title: 'Files without a phash cannot be grouped by picture. Run Stash\'s Generate task '
        + '(phashes), or compute them here.' },
    `${missing.toLocaleString()} without phash `,
    onBackfill ? h('button', { type: 'button', class: 'link-button', onClick: onBackfill },
      'compute') : null) : null,
    summary.missing_files ? h('span', { class: 'stat stat-warn', id: 'summary-missing',
      title: `${summary.missing_files.toLocaleString()} of the ${summary.checked_files
        .toLocaleString()} files Stash lists were not found at their paths; counts and `
        + 'sizes leave them out' },
    `${summary.missing_files.toLocaleString()} not found`) : null,
    h('span', { class: 'stat', id: 'summary-groups' },
      h('b', {}, summary.groups.toLocaleString()), summary.groups === 1 ? ' group' : ' groups'),
    h('span', { class: 'stat stat-good', id: 'summary-reclaimable' },
      h('b', {}, bytes(summary.reclaimable)), ' reclaimable'));
}
