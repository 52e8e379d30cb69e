// "Accept suggestions for all byte-identical groups in this view": a preview of what would
// be removed, then the usual confirmation and removal (the server checks the plan again).

import { api } from './api.js';
import { h } from './dom.js';
import { bytes, count } from './format.js';
import { confirmPlan } from './removal.js';
import { dialog, toast } from './ui.js';

/** Preview, confirm, remove. Resolves with the removal's result, or null. */
export async function acceptIdentical(filter) {
  let preview;
  try {
    preview = await api.identicalPreview(filter);
  } catch (error) {
    toast(error.message, 'error');
    return null;
  }
  if (!preview.groups.length) {
    dialog({ title: 'No byte-identical groups',
      body: h('p', { id: 'identical-none' }, 'No group in this view has copies that are the '
        + 'same bytes as their keeper (same size and the same md5 or oshash in Stash).'),
      actions: [{ label: 'OK', kind: 'primary' }] });
    return null;
  }
  const removing = preview.groups.flatMap((group) => group.remove);
  const proceed = await new Promise((resolve) => {
    let answered = false;
    dialog({
      title: 'Accept suggestions for byte-identical groups',
      className: 'identical',
      body: h('div', { id: 'identical-preview' },
        h('p', {}, h('b', {}, `${count(preview.groups.length, 'group')}: `
          + `${count(removing.length, 'file')}, ${bytes(preview.bytes)}`),
        ' would be removed. Each is the same bytes as the file kept.'),
        h('ul', { class: 'path-list' }, preview.groups.map((group) => h('li', {},
          h('div', { class: 'keep-path' }, '✓ ', group.keeper.path),
          group.remove.map((file) => h('div', { class: 'remove-path' }, '✕ ', file.path,
            h('span', { class: 'muted' }, `  ${bytes(file.size)}`))))))),
      actions: [
        { label: 'Cancel', onClick: () => { answered = true; resolve(false); } },
        { label: 'Continue…', kind: 'danger', id: 'identical-continue',
          onClick: () => { answered = true; resolve(true); } },
      ],
      onClose: () => { if (!answered) resolve(false); },
    });
  });
  if (!proceed) return null;
  const keep = preview.groups.map((group) => group.keeper);
  return confirmPlan({ title: 'Remove byte-identical copies', plan: preview.plan,
    remove: removing, keep });
}
