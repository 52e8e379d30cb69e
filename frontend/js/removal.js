// Removing the files marked remove: the confirmation dialog (mode, count, bytes; a
// permanent delete needs its own checkbox), the request, and what to tell the user after.

import { api, whenWindowApi } from './api.js';
import { h, mount } from './dom.js';
import { bytes, count } from './format.js';
import { app } from './state.js';
import { tellStashButton } from './stash.js';
import { dialog } from './ui.js';

const MODES = [
  { value: 'trash', label: 'Move to the system trash', verb: 'Move to trash' },
  { value: 'move', label: 'Move to a folder', verb: 'Move to folder' },
  { value: 'delete', label: 'Delete permanently', verb: 'Delete permanently' },
];

/** Ask, then remove one group's marked files. Resolves with the API's result, or null. */
export function confirmRemoval(group, marks) {
  // A file not found at its path is neither kept nor removed: the plan leaves it out.
  const present = group.files.filter((f) => f.present !== false);
  const remove = present.filter((f) => marks.get(f.file_id) === 'remove');
  const keep = present.filter((f) => marks.get(f.file_id) === 'keep');
  const plan = { groups: [{ group_id: group.id, keep: keep.map((f) => f.file_id),
    remove: remove.map((f) => f.file_id) }] };
  return confirmPlan({ title: 'Remove duplicates', plan, remove, keep });
}

/**
 * Ask how (trash, folder, delete with its own checkbox), then send `plan` to the removal
 * API. `remove` and `keep` are {path, size} lists to show. Resolves with the result or null.
 */
export function confirmPlan({ title, plan, remove, keep }) {
  const total = remove.reduce((sum, f) => sum + f.size, 0);
  let mode = app.settings?.removal_mode || 'trash';
  return new Promise((resolve) => {
    let finished = false;
    const error = h('p', { class: 'inline-error', role: 'alert', hidden: true });
    const trashDir = h('input', { type: 'text', class: 'path-input', id: 'remove-trash-dir',
      placeholder: '/path/to/a/trash/folder', value: app.settings?.trash_dir || '',
      spellcheck: 'false' });
    const browse = h('button', { type: 'button', class: 'button', hidden: true, onClick: async () => {
      const windowApi = await whenWindowApi();
      const chosen = await windowApi?.pick_folder();
      if (chosen) trashDir.value = chosen;
    } }, 'Browse…');
    whenWindowApi().then((windowApi) => { if (windowApi) browse.hidden = false; });
    const folderRow = h('div', { class: 'field-row' }, trashDir, browse);
    const understand = h('input', { type: 'checkbox', id: 'confirm-delete' });
    const deleteRow = h('label', { class: 'danger-confirm' }, understand,
      ` I understand: ${count(remove.length, 'file')} (${bytes(total)}) will be deleted `
      + 'permanently and cannot be restored.');
    const radios = MODES.map((option) => h('label', { class: 'radio' },
      h('input', { type: 'radio', name: 'remove-mode', value: option.value,
        checked: option.value === mode, onChange: () => { mode = option.value; update(); } }),
      ` ${option.label}`));

    const body = h('div', { class: 'remove-dialog' },
      h('p', {}, h('b', {}, `${count(remove.length, 'file')}, ${bytes(total)}`),
        ` will be removed; ${count(keep.length, 'file')} kept.`),
      h('ul', { class: 'path-list' },
        remove.map((f) => h('li', { class: 'remove-path' }, '✕ ', f.path, h('span',
          { class: 'muted' }, `  ${bytes(f.size)}`))),
        keep.map((f) => h('li', { class: 'keep-path' }, '✓ ', f.path))),
      h('fieldset', { class: 'modes' }, h('legend', {}, 'How'), radios, folderRow, deleteRow),
      error);

    const { close, buttons } = dialog({
      title,
      body,
      className: 'remove',
      actions: [
        { label: 'Cancel', onClick: () => { finished = true; resolve(null); } },
        { label: 'Remove', kind: 'danger', id: 'confirm-remove', onClick: submit },
      ],
      onClose: () => { if (!finished) resolve(null); },
    });
    const confirmButton = buttons[1];
    understand.addEventListener('change', update);
    update();

    function update() {
      folderRow.hidden = mode !== 'move';
      deleteRow.hidden = mode !== 'delete';
      confirmButton.disabled = mode === 'delete' && !understand.checked;
      const verb = MODES.find((option) => option.value === mode).verb;
      confirmButton.textContent = `${verb}: ${count(remove.length, 'file')}`;
    }

    async function submit() {
      error.hidden = true;
      confirmButton.disabled = true;
      try {
        const result = await api.remove(plan, {
          mode,
          trashDir: mode === 'move' ? trashDir.value.trim() : null,
          confirmDelete: mode === 'delete' && understand.checked,
        });
        finished = true;
        resolve(result);
        close();
      } catch (failure) {
        error.textContent = failure.message;
        error.hidden = false;
        confirmButton.disabled = false;
      }
      return false;
    }
  });
}

/** After a removal: what was skipped, and that Stash still lists the files until Clean. */
export function showRemovalOutcome(result) {
  if (result.skipped.length) {
    dialog({
      title: `${count(result.skipped.length, 'file')} left in place`,
      body: h('ul', { class: 'path-list' }, result.skipped.map((skip) => h('li', {},
        h('div', {}, skip.path), h('div', { class: 'muted small' }, skip.reason)))),
      actions: [{ label: 'OK', kind: 'primary' }],
    });
  }
}

/** The note that Stash still lists removed files, with their paths to copy. */
export function renderStashNote(element) {
  const paths = app.removedPaths;
  element.hidden = paths.length === 0;
  if (!paths.length) return;
  mount(element,
    h('span', {}, `Stash still lists ${count(paths.length, 'removed file')} until you run its `
      + 'Clean task (Settings → Tasks → Clean in Stash). '),
    h('button', { type: 'button', class: 'link-button', onClick: () => dialog({
      title: 'Removed files Stash still lists',
      body: h('textarea', { class: 'paths-text', readonly: true, rows: 12,
        value: paths.join('\n') }),
      actions: [{ label: 'Close', kind: 'primary' }],
    }) }, 'Show paths'),
    app.lastBatchId ? tellStashButton(app.lastBatchId, () => renderStashNote(element),
      `Tell Stash about removal #${app.lastBatchId}…`) : null,
    h('button', { type: 'button', class: 'icon-button', title: 'Hide this note', onClick: () => {
      app.removedPaths = [];
      renderStashNote(element);
    } }, '×'));
}
