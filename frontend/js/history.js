// History: every removal batch with its files, undo, and the CSV export.

import { api } from './api.js';
import { h, mount } from './dom.js';
import { bytes, count, dateTime } from './format.js';
import { app } from './state.js';
import { tellStashButton } from './stash.js';
import { confirmDialog, toast } from './ui.js';

const MODE_NAMES = { trash: 'System trash', move: 'Trash folder', delete: 'Deleted',
  hardlink: 'Hardlinks', undo: 'Undo' };

export async function showHistory(view) {
  const { batches } = await api.history();
  const table = h('table', { class: 'table', id: 'history-table' },
    h('thead', {}, h('tr', {},
      ['#', 'When', 'How', 'Files', 'Bytes', 'Status', ''].map((title) => h('th', {}, title)))),
    h('tbody', {}, batches.map((batch) => batchRows(batch, view))));
  mount(view, h('div', { class: 'page' },
    h('div', { class: 'page-header' },
      h('h1', {}, 'History'),
      h('a', { class: 'button', id: 'export-csv', href: api.historyCsvUrl(),
        download: 'stash-dedupe-history.csv' }, 'Export CSV')),
    batches.length ? table : h('p', { class: 'muted' }, 'Nothing removed yet.')));
}

function batchRows(batch, view) {
  const details = h('tr', { class: 'details', hidden: true }, h('td', { colspan: 7 }));
  const undoable = batch.mode !== 'undo' && batch.mode !== 'delete';
  const left = batch.done_count - (batch.undone_count || 0); // removed and not put back
  const undone = undoable && batch.done_count > 0 && left === 0;
  const status = undone ? 'undone' : `${batch.status}${batch.undone_count
    ? ` · ${batch.undone_count} put back` : ''}`;
  const row = h('tr', { dataset: { batch: String(batch.id) } },
    h('td', {}, String(batch.id)),
    h('td', {}, dateTime(batch.started)),
    h('td', {}, MODE_NAMES[batch.mode] || batch.mode,
      batch.trash_dir ? h('div', { class: 'muted small' }, batch.trash_dir) : null),
    h('td', {}, `${batch.done_count} / ${batch.action_count}`),
    h('td', {}, bytes(batch.done_bytes)),
    h('td', { class: `batch-status${undone ? ' batch-undone' : ''}` }, status),
    h('td', { class: 'actions' },
      h('button', { type: 'button', class: 'button', onClick: () => toggleDetails(batch,
        details) }, 'Files'),
      undoable && batch.done_count > 0 ? h('button', { type: 'button', class: 'button undo-batch',
        disabled: undone, title: undone ? 'Every file of this removal was put back' : null,
        onClick: async () => {
          if (!(await confirmDialog('Undo removal',
            `Put back the files of removal #${batch.id}?`, 'Undo'))) return;
          try {
            const result = await api.undoBatch(batch.id);
            toast(`Restored ${count(result.restored.length, 'file')}.`, 'good');
            for (const skipped of result.skipped) toast(skipped.reason, 'warn', 8000);
            const restored = new Set(result.restored.map((r) => r.path));
            app.removedPaths = app.removedPaths.filter((path) => !restored.has(path));
            if (app.lastBatchId === batch.id) app.lastBatchId = null; // nothing left for "u"
          } catch (error) {
            toast(error.message, 'error');
          }
          showHistory(view);
        } }, 'Undo') : null,
      // A hardlinked path still holds its file: Stash has nothing to forget.
      !['undo', 'hardlink'].includes(batch.mode) && left > 0 ? tellStashButton(batch.id) : null));
  return [row, details];
}

async function toggleDetails(batch, details) {
  details.hidden = !details.hidden;
  if (details.hidden) return;
  const { actions } = await api.batch(batch.id);
  mount(details.firstChild, h('table', { class: 'table inner' },
    h('tbody', {}, actions.map((action) => h('tr', {},
      h('td', { class: `state state-${action.state}` }, action.state),
      h('td', {}, h('div', {}, action.original_path),
        action.link_target && action.mode !== 'undo' ? h('div', { class: 'muted small' },
          `⇒ hardlink to ${action.link_target}`) : null,
        action.destination ? h('div', { class: 'muted small' }, `→ ${action.destination}`) : null,
        action.reason ? h('div', { class: 'muted small' }, action.reason) : null),
      h('td', {}, bytes(action.size)))))));
}
