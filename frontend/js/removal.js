// Removing the files marked remove: the confirmation dialog (mode, count, bytes; a
// permanent delete needs its own checkbox; hardlinks only for identical copies), the
// request, and what to tell the user after.

import { api, whenWindowApi } from './api.js';
import { h, mount } from './dom.js';
import { basename, bytes, count } from './format.js';
import { app } from './state.js';
import { tellStashButton } from './stash.js';
import { dialog } from './ui.js';

const MODES = [
  { value: 'trash', label: 'Move to the system trash', verb: 'Move to trash' },
  { value: 'move', label: 'Move to a folder', verb: 'Move to folder' },
  { value: 'delete', label: 'Delete permanently', verb: 'Delete permanently' },
  { value: 'hardlink', label: 'Replace with a hardlink to the kept file (identical copies)',
    verb: 'Replace with hardlinks' },
];

/** Whether Stash's record rules out `file` being a byte-identical copy of `kept`. */
const differsPerStash = (file, kept) => file.size !== kept.size
  || Boolean(file.md5 && kept.md5 && file.md5 !== kept.md5)
  || Boolean(file.oshash && kept.oshash && file.oshash !== kept.oshash);

/**
 * Ask, then remove one group's marked files. Resolves with the API's result, or null. The
 * dialog first says what Stash would lose with them that the kept files lack.
 */
export async function confirmRemoval(group, marks) {
  // A file not found at its path is neither kept nor removed: the plan leaves it out.
  const present = group.files.filter((f) => f.present !== false);
  const remove = present.filter((f) => marks.get(f.file_id) === 'remove');
  const keep = present.filter((f) => marks.get(f.file_id) === 'keep');
  const plan = { groups: [{ group_id: group.id, keep: keep.map((f) => f.file_id),
    remove: remove.map((f) => f.file_id) }] };
  let warning;
  try {
    const { files } = await api.groupLosses(group.id, plan.groups[0].keep);
    const removing = new Set(plan.groups[0].remove);
    warning = lossesWarning(group, files.filter((entry) => removing.has(entry.file_id)
      && (entry.protections.length || entry.protected_folder)));
  } catch (failure) {
    warning = h('p', { class: 'protection-warning', role: 'alert' },
      `What Stash would lose could not be checked: ${failure.message}`);
  }
  return confirmPlan({ title: 'Remove duplicates', plan, remove, keep, warning });
}

/** The removed files whose Stash item has what the kept files lack, and what that is. */
function lossesWarning(group, losing) {
  if (!losing.length) return null;
  const what = group.media === 'video' ? 'scene' : 'image';
  const whose = losing.length === 1 ? `this file's ${what} has` : `these files' ${what}s have`;
  return h('div', { class: 'protection-warning removing', id: 'removal-losses', role: 'alert' },
    h('div', { class: 'protection-title' }, `⚠ Stash loses what ${whose} and the kept files lack:`),
    h('ul', { class: 'protection-losses' }, losing.map((entry) => h('li', {},
      h('b', {}, basename(entry.path)), ': ', entry.protected_folder
        ? `in the protected folder ${entry.protected_folder}: the removal will refuse it`
        : entry.protections.map((loss) => loss.text).join(', ')))),
    group.media === 'video' ? h('div', { class: 'muted small' }, 'To keep it, cancel and use '
      + '"Merge into keeper…" on the file\'s card first.') : null);
}

/**
 * Ask how (trash, folder, delete with its own checkbox, hardlink), then send `plan` to the
 * removal API. `remove` and `keep` are {path, size} lists to show (with md5 and oshash when
 * known). Resolves with the result or null.
 */
export function confirmPlan({ title, plan, remove, keep, warning = null }) {
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
    // Hardlink mode: what happens, and which files cannot qualify (the server refuses them).
    const notIdentical = remove.filter((file) => keep.every((kept) => differsPerStash(file, kept)));
    const hardlinkRow = h('div', { class: 'hardlink-note' },
      h('p', {}, 'Each copy is compared byte for byte with the kept file, then its path becomes '
        + 'a hardlink to it: Stash keeps both entries and the copy\'s space is freed. The '
        + 'original waits in the system trash until you empty it; Undo puts it back.'),
      notIdentical.length ? h('p', { class: 'inline-error', id: 'hardlink-refusal' },
        `Not identical to a kept file (the size or checksum differs), so it cannot become a `
        + `hardlink: ${notIdentical.map((file) => file.path).join(', ')}. `
        + 'Choose another way for this group.') : null);
    const summary = h('p', {});
    const radios = MODES.map((option) => h('label', { class: 'radio' },
      h('input', { type: 'radio', name: 'remove-mode', value: option.value,
        checked: option.value === mode, onChange: () => { mode = option.value; update(); } }),
      ` ${option.label}`));

    const body = h('div', { class: 'remove-dialog' },
      summary,
      warning,
      h('ul', { class: 'path-list' },
        remove.map((f) => h('li', { class: 'remove-path' }, '✕ ', f.path, h('span',
          { class: 'muted' }, `  ${bytes(f.size)}`))),
        keep.map((f) => h('li', { class: 'keep-path' }, '✓ ', f.path))),
      h('fieldset', { class: 'modes' }, h('legend', {}, 'How'), radios, folderRow, deleteRow,
        hardlinkRow),
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
      hardlinkRow.hidden = mode !== 'hardlink';
      // A hardlink keeps the path, so Stash keeps its scene or image: nothing is lost.
      if (warning) warning.hidden = mode === 'hardlink';
      confirmButton.disabled = (mode === 'delete' && !understand.checked)
        || (mode === 'hardlink' && notIdentical.length > 0);
      const kept = `${count(keep.length, 'file')} kept.`;
      if (mode === 'hardlink' && notIdentical.length) {
        let which = `${notIdentical.length} of the ${remove.length} files marked`;
        if (notIdentical.length === remove.length) {
          which = remove.length === 1 ? 'The file marked' : `All ${remove.length} files marked`;
        }
        mount(summary, h('b', {}, which), ` cannot become `
          + `${notIdentical.length === 1 ? 'a hardlink' : 'hardlinks'}; ${kept}`);
      } else if (mode === 'hardlink') {
        mount(summary, h('b', {}, count(remove.length, 'file')),
          ` will become ${remove.length === 1 ? 'a hardlink' : 'hardlinks'} to the kept file,`
          + ' freeing ', h('b', {}, bytes(total)),
          `; ${kept}`);
      } else {
        mount(summary, h('b', {}, `${count(remove.length, 'file')}, ${bytes(total)}`),
          ` will be removed; ${kept}`);
      }
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
