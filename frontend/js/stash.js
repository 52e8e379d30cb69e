// Stash over its GraphQL API, optional: the connection settings and "Test connection",
// telling Stash about a removal batch, merging a group's scenes, sending backfilled phashes.
// Every button here stays hidden until the app has reached Stash with the saved settings;
// with no Stash URL saved, Stash is not asked at all until the user presses Test connection.

import { api } from './api.js';
import { h, mount } from './dom.js';
import { count } from './format.js';
import { followJob, progressText } from './jobs.js';
import { app } from './state.js';
import { dialog, toast } from './ui.js';

// Stash may start after the app: a failed check is asked again after this long.
const RETRY_MS = 60_000;
let connection = null;
let failedAt = 0;
let refreshSettingsPanel = null;

/** Resolves with {url, version} when Stash answers with the saved settings, else null. */
export function stashConnection() {
  if (!app.settings?.stash_url) return Promise.resolve(null); // none configured: do not ask
  if (connection && failedAt && Date.now() - failedAt > RETRY_MS) connection = null;
  if (!connection) {
    failedAt = 0;
    connection = api.stashVersion().catch(() => {
      failedAt = Date.now();
      return null;
    });
  }
  return connection;
}

/** The settings changed (or were tested): ask Stash again next time. */
export function forgetStashConnection() {
  connection = null;
  refreshSettingsPanel?.();
}

/** Show `element` only once Stash answers (and `also()` holds); returns it. */
function whenConnected(element, also = () => true) {
  element.hidden = true;
  stashConnection().then((found) => { element.hidden = !(found && also()); });
  return element;
}

// ---- settings ------------------------------------------------------------------------------

/** The "Stash server" panel of the settings form; edits `draft` like the other fields. */
export function stashSettingsPanel(draft, field) {
  const result = h('div', { class: 'muted small', id: 'stash-test-result', role: 'status' });
  const keyHint = () => (draft.stash_api_key_set && draft.stash_api_key !== null
    ? 'A key is saved: leave empty to keep it' : 'Only if Stash asks for one');
  const key = h('input', { type: 'password', class: 'path-input', id: 'setting-stash_api_key',
    autocomplete: 'off', spellcheck: 'false', placeholder: keyHint(),
    onInput: (event) => { draft.stash_api_key = event.target.value.trim(); } });
  const forget = draft.stash_api_key_set ? h('button', { type: 'button', class: 'button',
    id: 'forget-stash-key', onClick: () => {
      draft.stash_api_key = null;
      key.value = '';
      key.placeholder = 'The saved key is dropped when you save';
      forget.disabled = true;
    } }, 'Forget key') : null;
  const test = h('button', { type: 'button', class: 'button', id: 'test-stash',
    onClick: async () => {
      if (!draft.stash_url) {
        result.className = 'inline-error';
        result.textContent = 'Type Stash\'s URL first, e.g. http://localhost:9999.';
        return;
      }
      test.disabled = true;
      result.className = 'muted small';
      result.textContent = 'Asking Stash…';
      try {
        const found = await api.stashVersion({ url: draft.stash_url,
          apiKey: draft.stash_api_key || '' });
        result.className = 'good small';
        result.textContent = `Connected to Stash ${found.version} at ${found.url}.`;
      } catch (failure) {
        result.className = 'inline-error';
        result.textContent = failure.message;
      } finally {
        test.disabled = false;
      }
      forgetStashConnection();
    } }, 'Test connection');
  const send = h('button', { type: 'button', class: 'button', id: 'send-phashes',
    onClick: () => sendPhashes() }, 'Send computed phashes to Stash');
  refreshSettingsPanel = () => whenConnected(send, () => Boolean(app.status?.database));
  refreshSettingsPanel();

  return h('section', { class: 'panel', id: 'stash-settings' }, h('h2', {}, 'Stash server'),
    field('Stash URL', h('div', { class: 'field-row' }, h('input', { type: 'text',
      class: 'path-input', id: 'setting-stash_url', value: draft.stash_url || '',
      placeholder: 'http://localhost:9999', spellcheck: 'false',
      onInput: (event) => { draft.stash_url = event.target.value.trim(); } })),
    'Optional: with it the app can tell Stash about removed files, merge scenes and send '
      + 'phashes; empty, the app never contacts Stash. The app never writes to Stash\'s '
      + 'database file.'),
    field('API key', h('div', { class: 'field-row' }, key, forget),
      'Stash → Settings → Security. Kept in the app\'s settings file, readable only by you.'),
    field('', h('div', {}, h('div', { class: 'field-row' }, test, send), result)));
}

// ---- running a Stash job ------------------------------------------------------------------

async function runJob(label, start) {
  let job;
  try {
    job = await start();
  } catch (error) {
    toast(error.message, 'error', 10000);
    return null;
  }
  const bar = h('div', { class: 'job-bar', id: 'stash-job-bar' });
  document.body.append(bar);
  try {
    job = await followJob(job.job_id, (progress) => mount(bar,
      h('span', {}, h('span', { class: 'spinner' }), ` ${label}: `,
        progressText(progress) || progress.message || 'starting…'),
      h('button', { type: 'button', class: 'button', onClick: () => api.cancelJob(
        progress.job_id).catch((error) => toast(error.message, 'error')) },
      'Cancel')));
  } catch (error) {
    toast(error.message, 'error', 10000);
    return null;
  } finally {
    bar.remove();
  }
  if (job.state === 'failed') toast(job.message, 'error', 12000);
  if (job.state === 'cancelled') toast(`${label}: cancelled.`, 'info');
  return job.state === 'done' ? job.result : null;
}

const json = (value) => h('pre', { class: 'json' }, JSON.stringify(value, null, 2));

// ---- after a removal ----------------------------------------------------------------------

/** A "Tell Stash…" button for a removal batch, shown once Stash answers. */
export function tellStashButton(batchId, onDone, label = 'Tell Stash…') {
  return whenConnected(h('button', { type: 'button', class: 'button tell-stash',
    title: 'Remove the files from Stash\'s library too (shows what is sent first)',
    onClick: async () => {
      const result = await tellStash(batchId);
      if (result) onDone?.(result);
    } }, label));
}

/** Show what telling Stash about a batch sends; send it once confirmed. */
export async function tellStash(batchId) {
  let plan;
  try {
    plan = await api.stashCleanupPreview(batchId);
  } catch (error) {
    toast(error.message, 'error', 10000);
    return null;
  }
  const confirmed = await new Promise((resolve) => {
    let answered = false;
    dialog({
      title: `Tell Stash about removal #${batchId}`,
      className: 'stash-dialog',
      body: h('div', {},
        h('p', {}, `${count(plan.removed.length, 'removed file')}. This is what will be sent `
          + 'to Stash, in this order:'),
        h('ol', { class: 'stash-operations', id: 'stash-operations' },
          plan.operations.map((operation) => h('li', { dataset: { kind: operation.kind } },
            h('div', {}, operation.summary),
            h('details', {}, h('summary', { class: 'muted small' }, 'What is sent'),
              json(operation.variables))))),
        h('details', {}, h('summary', { class: 'muted small' }, 'The removed files'),
          h('ul', { class: 'path-list' }, plan.removed.map((file) => h('li', {}, file.path))))),
      actions: [
        { label: 'Cancel', onClick: () => { answered = true; resolve(false); } },
        { label: 'Send to Stash', kind: 'primary', id: 'confirm-stash-cleanup',
          onClick: () => { answered = true; resolve(true); } },
      ],
      onClose: () => { if (!answered) resolve(false); },
    });
  });
  if (!confirmed) return null;
  const result = await runJob('Telling Stash', () => api.stashCleanup(batchId));
  if (result) {
    for (const outcome of result.outcomes) toast(outcome, 'good', 8000);
    const told = new Set(result.paths);
    app.removedPaths = app.removedPaths.filter((path) => !told.has(path));
  }
  return result;
}

// ---- merge --------------------------------------------------------------------------------

/** "Merge into keeper's scene" for a video group whose files are in different scenes. */
export function mergeButton(group, keeper, onMerged) {
  const scenes = new Set(group.files.flatMap((file) => file.items.map((item) => item.item_id)));
  if (group.media !== 'video' || scenes.size < 2 || !keeper?.items.length) return null;
  return whenConnected(h('button', { type: 'button', class: 'button', id: 'merge-scenes',
    title: 'Merge the other files\' scenes into the keeper\'s in Stash (shows the result first)',
    onClick: () => mergeScenes(group, keeper, onMerged) }, 'Merge into keeper\'s scene…'));
}

/**
 * "Merge into keeper…" on the card of a video whose scene carries what the keeper's lacks:
 * the same merge, so the metadata moves to the keeper's scene before the file goes.
 */
export function mergeIntoKeeperButton(group, file, keeper, onMerged) {
  const own = new Set(keeper?.items.map((item) => item.item_id));
  if (group.media !== 'video' || !keeper?.items.length
    || !file.items.some((item) => !own.has(item.item_id))) return null;
  return whenConnected(h('button', { type: 'button', class: 'button merge-into-keeper',
    title: 'Merge this group\'s other scenes into the keeper\'s in Stash, so their rating, '
      + 'tags and counts stay (shows the result first)',
    onClick: (event) => {
      event.stopPropagation();
      mergeScenes(group, keeper, onMerged);
    } }, 'Merge into keeper…'));
}

function sceneLines(scene) {
  const line = (label, values) => (values.length
    ? h('div', {}, h('span', { class: 'muted' }, `${label}: `), values.join(', ')) : null);
  return [
    h('div', {}, h('b', {}, scene.title || '(no title)'), h('span', { class: 'muted' },
      ` scene #${scene.scene_id}${scene.date ? ` · ${scene.date}` : ''}`
      + `${scene.studio ? ` · ${scene.studio}` : ''}`)),
    line('Tags', scene.tags),
    line('Performers', scene.performers),
    line('Groups', scene.groups),
    h('div', { class: 'muted' }, `${count(scene.marker_count, 'marker')} · `
      + `${count(scene.play_count, 'play')} · O count ${scene.o_count} · `
      + `${count(scene.gallery_count, 'gallery', 'galleries')}`),
    line('Stash IDs', scene.stash_ids),
    h('ul', { class: 'path-list' }, scene.file_paths.map((path) => h('li', {}, path))),
  ];
}

async function mergeScenes(group, keeper, onMerged) {
  let preview;
  try {
    preview = await api.stashMergePreview(group.id, keeper.file_id);
  } catch (error) {
    toast(error.message, 'error', 10000);
    return;
  }
  const error = h('p', { class: 'inline-error', role: 'alert', hidden: true });
  dialog({
    title: 'Merge scenes in Stash',
    className: 'stash-dialog merge-dialog',
    body: h('div', {},
      h('p', {}, `${count(preview.sources.length, 'scene')} will be merged into the keeper's `
        + 'scene and then deleted by Stash; no file is deleted.'),
      h('h3', {}, 'The keeper\'s scene after the merge'),
      h('div', { class: 'scene merged', id: 'merged-scene' }, sceneLines(preview.merged)),
      preview.dropped_stash_ids.length ? h('p', { class: 'inline-error' },
        'Stash keeps one ID per stash-box, so these are lost: ',
        preview.dropped_stash_ids.join(', ')) : null,
      h('details', {}, h('summary', { class: 'muted small' }, 'The scenes as they are now'),
        h('div', { class: 'scene' }, h('h4', {}, 'Keeper'), sceneLines(preview.keeper)),
        preview.sources.map((scene) => h('div', { class: 'scene' }, h('h4', {}, 'Merged in'),
          sceneLines(scene)))),
      h('details', {}, h('summary', { class: 'muted small' }, 'What is sent'),
        json(preview.variables)),
      error),
    actions: [
      { label: 'Cancel' },
      { label: 'Merge in Stash', kind: 'primary', id: 'confirm-merge', onClick: async () => {
        try {
          const { scene } = await api.stashMerge(group.id, keeper.file_id);
          toast(`Merged into scene #${scene.scene_id}: ${count(scene.file_paths.length, 'file')}`
            + `, ${count(scene.tags.length, 'tag')}.`, 'good', 8000);
          onMerged?.(scene);
          return true;
        } catch (failure) {
          error.textContent = failure.message;
          error.hidden = false;
          return false;
        }
      } },
    ],
  });
}

// ---- phash write-back ---------------------------------------------------------------------

export async function sendPhashes() {
  const result = await runJob('Sending phashes to Stash', () => api.sendPhashes());
  if (!result) return;
  const notWritten = [...result.skipped, ...result.failed];
  if (!result.written && !notWritten.length) {
    toast('Nothing to send: Stash has a phash for every file the app hashed.', 'info', 8000);
    return;
  }
  toast(`Stash has ${count(result.written, 'new phash', 'new phashes')}.`, 'good', 8000);
  if (notWritten.length) {
    dialog({
      title: `${count(notWritten.length, 'phash', 'phashes')} not sent`,
      body: h('ul', { class: 'path-list', id: 'phashes-not-sent' }, notWritten.map((note) => h(
        'li', {}, h('div', {}, note.path || `file ${note.file_id}`),
        h('div', { class: 'muted small' }, note.reason)))),
      actions: [{ label: 'OK', kind: 'primary' }],
    });
  }
}
