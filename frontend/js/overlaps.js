// The Overlaps list, beside Videos and Images: pairs of videos that share footage (a trim, an
// added intro, a part, a compilation). Each pair shows both timelines to scale, aligned on
// their common segment; opened, it shows both files, their frames at matching times, and the
// removal buttons: the shorter file is the suggestion, the longer one needs an extra "yes".

import { api } from './api.js';
import { h, mount } from './dom.js';
import { basename, bitRate, bytes, count, dirname, duration, resolution } from './format.js';
import { followJob, progressText } from './jobs.js';
import { confirmPlan, renderStashNote, showRemovalOutcome } from './removal.js';
import { app, reportRendered } from './state.js';
import { confirmDialog, setViewKeys, toast } from './ui.js';

const KIND_TEXT = {
  same: 'same video',
  contained: 'one inside the other',
  shared: 'a shared segment',
};

let pairs = [];
let selected = -1;
let listElement = null;
let listHeader = null;
let status = null;
let pane = null;
let stashNote = null;
let opened = null;
let loadRequest = 0;
let fingerprintJob = null;
let minimumInput = null;

/**
 * Render the Overlaps review into `view`; `mediaSwitch` is the Videos/Images/Overlaps control
 * (filters.js) with Overlaps active.
 */
export async function showOverlaps(view, mediaSwitch) {
  // Until the user sets one, the app's default minimum (the first answer says which).
  minimumInput = h('input', { type: 'number', min: 1, step: 1, class: 'narrow',
    id: 'overlap-min', value: app.minOverlap === undefined ? '' : String(app.minOverlap),
    title: 'Shortest common segment listed, in seconds',
    onChange: (event) => {
      const seconds = Number(event.target.value);
      app.minOverlap = seconds > 0 ? seconds : undefined;
      load(0);
    } });
  status = h('div', { class: 'filter-row overlap-status', id: 'overlap-status' });
  listHeader = h('div', { class: 'list-header', id: 'list-header' });
  listElement = h('div', { class: 'overlap-list', id: 'overlap-list', role: 'listbox',
    tabIndex: 0, 'aria-label': 'Overlapping videos' });
  pane = h('div', { class: 'group-view', id: 'overlap-view' });
  stashNote = h('div', { class: 'stash-note', id: 'stash-note', hidden: true });
  mount(view, h('div', { class: 'review' },
    h('aside', { class: 'sidebar' },
      h('div', { class: 'filters', id: 'filters' },
        h('div', { class: 'filter-row' }, mediaSwitch),
        h('div', { class: 'filter-row' },
          h('label', { class: 'inline', title: 'Shortest common segment listed' },
            'Common at least ', minimumInput, ' s')),
        status),
      listHeader, listElement),
    h('section', { class: 'group-pane' }, stashNote, pane)));
  renderStashNote(stashNote);
  setViewKeys(handleKey);
  await load(0);
}

/** (Re)load the pairs and open the one at `position`. */
async function load(position) {
  const request = ++loadRequest;
  document.body.dataset.busy = 'overlaps';
  try {
    await loadPairs(request, position);
  } finally {
    if (request === loadRequest) delete document.body.dataset.busy;
  }
}

async function loadPairs(request, position) {
  const slow = setTimeout(() => {
    mount(listHeader, h('span', { class: 'spinner' }), ' Finding overlaps…');
  }, 150);
  let listing;
  try {
    listing = await api.overlaps(app.minOverlap);
  } catch (error) {
    if (request === loadRequest) {
      mount(listHeader, h('span', { class: 'inline-error' }, error.message));
      pairs = [];
      renderList();
      empty('');
    }
    return;
  } finally {
    clearTimeout(slow);
  }
  if (request !== loadRequest) return;
  pairs = listing.items;
  app.minOverlap = listing.min_overlap;
  minimumInput.value = String(listing.min_overlap);
  mount(listHeader, h('span', { class: 'list-count' },
    h('b', {}, count(listing.total, 'pair')), ` sharing ≥ ${listing.min_overlap} s`,
    listing.total > pairs.length ? ` (first ${pairs.length} shown)` : ''));
  renderStatus(listing.fingerprints);
  selected = -1;
  renderList();
  if (pairs.length) {
    await select(Math.min(position, pairs.length - 1));
  } else {
    empty(listing.fingerprints.missing
      ? 'No overlaps among the videos fingerprinted so far: compute the missing fingerprints.'
      : `No two videos share ${listing.min_overlap} s or more.`);
  }
  reportRendered({ view: 'overlaps', pairs: listing.total });
}

// ---- fingerprints ----------------------------------------------------------------------------

function renderStatus(fingerprints) {
  const { videos, missing, failed, job } = fingerprints;
  if (job && !fingerprintJob) followFingerprints(job);
  if (fingerprintJob) return;
  mount(status,
    h('span', { class: 'muted small grow' },
      `${(videos - missing - failed).toLocaleString()} of ${count(videos, 'video')} fingerprinted`,
      failed ? `, ${failed.toLocaleString()} unreadable` : ''),
    missing ? h('button', { type: 'button', class: 'button', id: 'compute-fingerprints',
      title: 'Take frame fingerprints of the videos that have none yet (from Stash\'s scrubber '
        + 'sprites where it made them, else by sampling the video)',
      onClick: startFingerprints }, `Compute ${missing.toLocaleString()} missing`) : null);
}

async function startFingerprints() {
  if (fingerprintJob) return;
  let job;
  try {
    job = await api.computeFingerprints();
  } catch (error) {
    toast(error.message, 'error');
    return;
  }
  await followFingerprints(job);
}

async function followFingerprints(job) {
  fingerprintJob = job.job_id;
  const control = (action) => action(fingerprintJob)
    .catch((error) => toast(error.message, 'error'));
  let finished;
  try {
    finished = await followJob(job.job_id, (progress) => {
      if (!status?.isConnected) return;
      mount(status,
        h('span', { class: 'grow small', id: 'fingerprint-progress' },
          progress.state === 'paused' ? 'Paused: ' : h('span', { class: 'spinner' }),
          ' Fingerprints: ', progressText(progress) || 'starting…'),
        progress.state === 'paused'
          ? h('button', { type: 'button', class: 'button', onClick: () => control(api.resumeJob) },
            'Resume')
          : h('button', { type: 'button', class: 'button', onClick: () => control(api.pauseJob) },
            'Pause'),
        h('button', { type: 'button', class: 'button', onClick: () => control(api.cancelJob) },
          'Cancel'));
    }, { intervalMs: 600 });
  } catch (error) {
    toast(error.message, 'error');
    return;
  } finally {
    fingerprintJob = null;
  }
  if (finished.state === 'done') {
    toast(`Fingerprints computed: ${count(finished.done - finished.failed, 'video')}`, 'good');
  } else if (finished.state === 'failed') toast(finished.message, 'error');
  if (status?.isConnected) await load(Math.max(0, selected));
}

// ---- the list --------------------------------------------------------------------------------

function renderList() {
  mount(listElement, pairs.map((pair, index) => h('div', {
    class: `overlap-row${index === selected ? ' selected' : ''}`,
    role: 'option',
    'aria-selected': index === selected ? 'true' : 'false',
    dataset: { index: String(index), id: pair.id },
    onClick: () => select(index),
  },
  h('div', { class: 'row-line' },
    h('span', { class: 'row-name', title: pair.files.map((file) => file.path).join('\n') },
      basename(pair.files[0].path), h('span', { class: 'muted' }, ' ↔ '),
      basename(pair.files[1].path)),
    h('span', { class: `badge overlap-kind kind-${pair.kind}` }, pair.kind)),
  timelines(pair, { compact: true }),
  h('div', { class: 'row-line row-meta' },
    h('span', {}, `${index + 1}. `, h('b', {}, `${pair.overlap_seconds.toFixed(1)} s`),
      ' in common'),
    h('span', {}, `offset ${signed(pair.offset)} s`)))));
}

async function select(index) {
  if (!pairs.length) return;
  selected = Math.max(0, Math.min(pairs.length - 1, index));
  renderList();
  const row = listElement.querySelector('.overlap-row.selected');
  row?.scrollIntoView({ block: 'nearest' });
  await open(pairs[selected]);
}

function empty(message) {
  opened = null;
  mount(pane, h('div', { class: 'empty' }, message));
}

// ---- one pair --------------------------------------------------------------------------------

async function open(summary) {
  let pair;
  try {
    pair = await api.overlap(summary.id);
  } catch (error) {
    empty(error.message);
    return;
  }
  opened = pair;
  const frames = h('div', { class: 'overlap-frames', id: 'overlap-frames' });
  const [shorter, longer] = pair.files;
  const keeper = pair.files.find((file) => file.file_id === pair.keeper_id);
  const other = pair.files.find((file) => file.file_id !== pair.keeper_id);
  mount(pane,
    h('div', { class: 'group-header' },
      h('div', { class: 'group-title' },
        h('h2', {}, `Overlap ${selected + 1} of ${pairs.length.toLocaleString()}`),
        h('span', { class: `badge overlap-kind kind-${pair.kind}` }, pair.kind),
        h('span', { class: 'muted', id: 'overlap-summary' },
          `${KIND_TEXT[pair.kind]} · ${pair.overlap_seconds.toFixed(1)} s in common · `
          + `${basename(shorter.path)} at t shows ${basename(longer.path)} at `
          + `t ${signed(pair.offset)} s`)),
      h('div', { class: 'group-actions' },
        h('button', { type: 'button', class: 'button', id: 'compare',
          title: 'Frames of both files at matching times of the common segment (f)',
          onClick: () => compareFrames(pair, frames) }, 'Compare frames'),
        h('button', { type: 'button', class: 'button button-danger', id: 'remove-suggested',
          title: `Remove ${other.path}, keep ${keeper.path} (r)`,
          onClick: () => remove(pair, other, keeper) },
        `Remove ${other.file_id === shorter.file_id ? 'the shorter' : basename(other.path)}`
          + ` (${bytes(other.size)})`),
        h('button', { type: 'button', class: 'button', id: 'remove-other',
          title: pair.longer_has_more ? 'The longer file shows footage the shorter one lacks: '
            + 'removing it asks twice' : `Remove ${keeper.path} instead`,
          onClick: () => remove(pair, keeper, other) },
        pair.longer_has_more ? 'Remove the longer…' : `Remove ${basename(keeper.path)} instead`))),
    h('div', { class: 'cards-scroll overlap-body' },
      h('div', { class: 'overlap-timeline-large' }, timelines(pair, { compact: false })),
      h('div', { class: 'overlap-cards' }, pair.files.map((file, index) => card(pair, file,
        index))),
      frames));
}

function card(pair, file, index) {
  const segment = index === 0 ? pair.a : pair.b;
  const suggested = file.file_id === pair.keeper_id;
  const rows = [
    ['Size', bytes(file.size)],
    ['Duration', duration(file.duration)],
    ['Resolution', resolution(file.width, file.height)],
    ['Bit rate', bitRate(file.bit_rate)],
    ['Codec', [file.video_codec, file.audio_codec].filter(Boolean).join(' / ') || '—'],
    ['Common part', `${clock(segment.start)} – ${clock(segment.end)}`],
    ['Title', file.items?.[0]?.title || '—'],
  ];
  return h('article', {
    class: `card overlap-card card-${suggested ? 'keep' : 'remove'}`,
    dataset: { fileId: String(file.file_id) },
    'aria-label': `${suggested ? 'Suggested keeper' : 'Suggested removal'}: ${file.path}`,
  },
  h('div', { class: 'card-head' },
    h('div', { class: 'thumb loaded' },
      h('img', { src: api.thumbnailUrl(file.file_id), alt: '', loading: 'lazy',
        onError: (event) => event.target.parentElement.classList.add('broken') }),
      h('span', { class: 'card-number' }, index === 0 ? 'shorter' : 'longer'),
      suggested ? h('span', { class: 'badge badge-good thumb-suggested' }, 'keep')
        : h('span', { class: 'badge badge-warn thumb-far' }, 'suggested removal'),
      h('span', { class: 'thumb-duration' }, duration(file.duration))),
    h('div', { class: 'card-name', title: file.path }, basename(file.path)),
    h('div', { class: 'card-folder', title: file.path }, dirname(file.path))),
  h('dl', { class: 'overlap-facts' }, rows.map(([label, value]) => [
    h('dt', {}, label), h('dd', {}, value)])));
}

/**
 * Both files as bars on one time axis, placed so their common segments line up: the
 * shorter file (a) from 0, the longer (b) shifted back by the offset.
 */
function timelines(pair, { compact }) {
  const [shorter, longer] = pair.files;
  const lengthA = shorter.duration || pair.a.end;
  const lengthB = longer.duration || pair.b.end;
  const start = Math.min(0, -pair.offset);
  const end = Math.max(lengthA, lengthB - pair.offset);
  const span = end - start || 1;
  const percent = (seconds) => `${((seconds - start) / span) * 100}%`;
  const width = (seconds) => `${(seconds / span) * 100}%`;
  const bar = (file, origin, length, segment, label) => h('div', { class: 'timeline-row' },
    compact ? null : h('span', { class: 'timeline-label', title: file.path },
      `${label} · ${duration(length)}`),
    h('div', { class: 'timeline-track' },
      h('div', { class: 'timeline-file', style: { left: percent(origin), width: width(length) },
        title: `${basename(file.path)}: ${duration(length)}` },
      h('div', { class: 'timeline-common', style: {
        left: `${(segment.start / length) * 100}%`,
        width: `${((segment.end - segment.start) / length) * 100}%` },
      title: `${clock(segment.start)} – ${clock(segment.end)} in ${basename(file.path)}` }))));
  return h('div', { class: `timelines${compact ? ' compact' : ''}`,
    'aria-label': 'Both timelines, the common segment highlighted' },
  bar(shorter, 0, lengthA, pair.a, basename(shorter.path)),
  bar(longer, -pair.offset, lengthB, pair.b, basename(longer.path)));
}

// ---- frames at matching times ----------------------------------------------------------------

async function compareFrames(pair, element) {
  mount(element, h('p', { class: 'muted' }, h('span', { class: 'spinner' }),
    ' Sampling both files at matching times…'));
  let started;
  let job;
  try {
    started = await api.compareOverlapFrames(pair.id);
    job = await followJob(started.job_id, null);
  } catch (error) {
    mount(element, h('p', { class: 'inline-error' }, error.message));
    return;
  }
  if (!element.isConnected) return;
  if (job.state !== 'done') {
    mount(element, h('p', { class: 'inline-error' }, job.message || `Sampling ${job.state}.`));
    return;
  }
  const result = job.result;
  const columns = started.times[0].length;
  const grid = h('div', { class: 'strip-grid overlap-strip' });
  grid.style.gridTemplateColumns = `var(--strip-label) repeat(${columns}, 1fr)`;
  grid.append(h('div', { class: 'strip-head' }, 'File · similarity'));
  for (let column = 0; column < columns; column += 1) {
    grid.append(h('div', { class: 'strip-head' }, clock(started.times[0][column])));
  }
  result.files.forEach((file, index) => {
    const keeper = index === result.keeper_index;
    grid.append(h('div', { class: 'strip-label', title: file.path },
      h('div', { class: 'strip-name' }, basename(file.path)),
      keeper ? h('span', { class: 'badge badge-good' }, 'keeper')
        : h('span', { class: 'score' }, percent(file.score)),
      file.error ? h('div', { class: 'inline-error small' }, file.error) : null));
    for (let column = 0; column < columns; column += 1) {
      if (file.error || !file.frame_count) {
        grid.append(h('div', { class: 'strip-cell missing' }));
        continue;
      }
      grid.append(h('figure', { class: 'strip-cell overlap-frame' },
        h('img', { src: api.frameUrl(started.job_id, index, column), alt: '' }),
        h('figcaption', { class: 'cell-score' }, clock(started.times[index][column]),
          keeper ? '' : ` · ${percent(file.column_scores[column])}`)));
    }
  });
  mount(element,
    h('p', { class: 'muted small' }, 'Frames at the same moments of the common segment: '
      + `${basename(pair.files[0].path)} at t, ${basename(pair.files[1].path)} at `
      + `t ${signed(pair.offset)} s. Similarity to the keeper, per frame (structural).`),
    h('div', { class: 'strip-scroll' }, grid));
}

// ---- removal ---------------------------------------------------------------------------------

async function remove(pair, file, keep) {
  const longer = pair.files[1];
  const isLonger = pair.longer_has_more && file.file_id === longer.file_id;
  if (isLonger) {
    const extra = Math.max(0, (longer.duration || 0) - pair.overlap_seconds);
    const sure = await confirmDialog('Remove the longer file?',
      `${basename(longer.path)} shows about ${Math.round(extra)} s that `
      + `${basename(pair.files[0].path)} does not have. Removing it loses that footage unless `
      + 'it exists elsewhere. Remove the longer file anyway?', 'Yes, remove the longer', 'danger');
    if (!sure) return;
  }
  const plan = { groups: [{ group_id: pair.id, keep: [keep.file_id], remove: [file.file_id],
    ...(isLonger ? { allow_longer: true } : {}) }] };
  const result = await confirmPlan({ title: 'Remove an overlapping copy', plan,
    remove: [file], keep: [keep] });
  if (!result) return;
  app.lastBatchId = result.batch_id;
  app.removedPaths.push(...result.done.map((removed) => removed.path));
  renderStashNote(stashNote);
  toast(`Removed ${count(result.done.length, 'file')}, freed ${bytes(result.bytes_freed)}.`,
    'good');
  showRemovalOutcome(result);
  await load(Math.max(0, selected));
}

// ---- keys and formats ------------------------------------------------------------------------

function handleKey(event) {
  const key = event.key;
  if (key === 'j' || key === 'ArrowDown') select(selected + 1);
  else if (key === 'k' || key === 'ArrowUp') select(Math.max(0, selected - 1));
  else if (!opened) return false;
  else if (key === 'f') document.getElementById('compare')?.click();
  else if (key === 'r' || key === 'Delete') document.getElementById('remove-suggested')?.click();
  else return false;
  return true;
}

const percent = (score) => (score === null || score === undefined ? '—'
  : `${Math.round(score * 100)}%`);

function signed(seconds) {
  const rounded = Math.round(seconds * 10) / 10;
  return rounded < 0 ? `− ${Math.abs(rounded)}` : `+ ${rounded}`;
}

/** Seconds as m:ss.s (a point on a timeline, where 0 is meaningful). */
function clock(seconds) {
  const minutes = Math.floor(seconds / 60);
  const rest = seconds - minutes * 60;
  return `${minutes}:${rest.toFixed(1).padStart(4, '0')}`;
}
