// The review screen: filters and the group list on the left, the open group on the right,
// and the keys that drive them.

import { api } from './api.js';
import { autoResolve } from './autoresolve.js';
import { h, mount } from './dom.js';
import { bytes, count } from './format.js';
import { mediaSwitch, renderFilters } from './filters.js';
import { compareFrames } from './frames.js';
import { GroupList, PAGE_SIZE, renderListHeader } from './grouplist.js';
import { acceptIdentical } from './identical.js';
import { GroupView } from './groupview.js';
import { compareImages } from './images.js';
import { showOverlaps } from './overlaps.js';
import { confirmRemoval, renderStashNote, showRemovalOutcome } from './removal.js';
import { app, rememberFilter, reportRendered } from './state.js';
import { renderSummary } from './summary.js';
import { startBackfill } from './backfill.js';
import { confirmDialog, setViewKeys, toast } from './ui.js';

let list = null;
let groupView = null;
let listHeader = null;
let stashNote = null;
let loadRequest = 0;

export async function showReview(view) {
  if (app.reviewList === 'overlaps') {
    await showOverlaps(view, mediaSwitch('overlaps', (media) => {
      app.reviewList = 'groups';
      app.filter.media = media;
      showReview(view);
    }, () => {}));
    return;
  }
  const filters = h('div', { class: 'filters', id: 'filters' });
  listHeader = h('div', { class: 'list-header', id: 'list-header' });
  const listElement = h('div', { id: 'group-list' });
  const pane = h('div', { class: 'group-view', id: 'group-view' });
  stashNote = h('div', { class: 'stash-note', id: 'stash-note', hidden: true });
  mount(view, h('div', { class: 'review' },
    h('aside', { class: 'sidebar' }, filters, listHeader, listElement),
    h('section', { class: 'group-pane' }, stashNote, pane)));
  renderStashNote(stashNote);

  list = new GroupList(listElement, {
    fetchPage: (offset, limit) => api.groups(app.filter, { offset, limit })
      .then((page) => page.items),
    onSelect: (index, item) => groupView.show(item.id, { index, total: list.total }),
  });
  groupView = new GroupView(pane, {
    onRemove: remove,
    onDismissGroup: dismissGroup,
    onDismissFile: dismissFile,
    onCompare: compare,
  });
  renderFilters(filters, app.filter, () => {
    rememberFilter(app.filter);
    load(0);
  }, { onOverlaps: () => {
    app.reviewList = 'overlaps';
    showReview(view);
  } });
  setViewKeys(handleKey);
  app.reloadGroups = () => load(Math.max(0, list.selected));
  await load(0);
}

/** (Re)load the groups for the current filter and open the one at `position`. */
async function load(position) {
  const request = ++loadRequest;
  document.body.dataset.busy = 'groups'; // tests and styles can tell a reload is under way
  try {
    await loadGroups(request, position);
  } finally {
    if (request === loadRequest) delete document.body.dataset.busy;
  }
}

async function loadGroups(request, position) {
  const slow = setTimeout(() => {
    mount(listHeader, h('span', { class: 'spinner' }), ' Finding duplicate groups…');
  }, 150);
  let page;
  try {
    page = await api.groups(app.filter, { offset: 0, limit: PAGE_SIZE });
  } catch (error) {
    clearTimeout(slow);
    if (request === loadRequest) {
      mount(listHeader, h('span', { class: 'inline-error' }, error.message));
      list.reset(0, []);
      groupView.empty('');
    }
    return;
  } finally {
    clearTimeout(slow);
  }
  if (request !== loadRequest) return;
  renderListHeader(listHeader, page, {
    onAutoResolve: resolveAll,
    onAcceptIdentical: async () => afterRemoval(await acceptIdentical(app.filter)),
    exportUrl: (format) => api.exportUrl(app.filter, format),
  });
  list.reset(page.total, page.items);
  const summary = refreshSummary();
  if (page.total) {
    await list.select(Math.min(position, page.total - 1));
  } else {
    groupView.empty(app.filter.distance === 0
      ? 'No duplicates at distance 0 with this filter. Try a larger distance (High 4, Medium 8).'
      : 'No duplicate groups with this filter.');
  }
  await summary;
  reportRendered({ view: 'review', groups: page.total });
}

async function refreshSummary() {
  try {
    const summary = await api.summary(app.filter);
    renderSummary(summary, { onBackfill: () => startBackfill(() => load(list.selected)) });
  } catch (error) {
    renderSummary(null);
  }
}

async function remove(group, marks) {
  await afterRemoval(await confirmRemoval(group, marks));
}

async function resolveAll() {
  await afterRemoval(await autoResolve(app.filter));
}

async function afterRemoval(result) {
  if (!result) return;
  app.lastBatchId = result.batch_id;
  const linked = result.mode === 'hardlink'; // the paths stay, so Stash has nothing to forget
  if (!linked) app.removedPaths.push(...result.done.map((removed) => removed.path));
  renderStashNote(stashNote);
  toast(`${linked ? 'Replaced' : 'Removed'} ${count(result.done.length, 'file')}`
    + `${linked ? ' with hardlinks' : ''}, freed ${bytes(result.bytes_freed)}.`, 'good');
  showRemovalOutcome(result);
  await load(Math.max(0, list.selected));
}

async function compare(group) {
  if (group.media !== 'video') {
    compareImages(group);
    return;
  }
  const result = await compareFrames(group);
  // Frames tell where black bars are, which can change the suggested keeper and resolutions.
  if (result && groupView.group?.id === group.id) await groupView.reload();
}

async function dismissGroup(group) {
  try {
    await api.dismissGroup(group.id);
  } catch (error) {
    toast(error.message, 'error');
    return;
  }
  toast('Marked as not duplicates; undo in "Not duplicates".', 'info');
  await load(Math.max(0, list.selected));
}

async function dismissFile(group, file) {
  try {
    await api.dismissFile(group.id, file.file_id);
  } catch (error) {
    toast(error.message, 'error');
    return;
  }
  toast(`${file.name} is no longer shown with these files.`, 'info');
  await load(Math.max(0, list.selected));
}

async function undoLast() {
  let batchId = app.lastBatchId;
  if (!batchId) {
    const { batches } = await api.history();
    batchId = batches.find((b) => b.mode !== 'undo' && b.mode !== 'delete'
      && b.done_count > (b.undone_count || 0))?.id;
  }
  if (!batchId) {
    toast('Nothing to undo.', 'info');
    return;
  }
  if (!(await confirmDialog('Undo removal', `Put back the files of removal #${batchId}?`,
    'Undo'))) return;
  try {
    const result = await api.undoBatch(batchId);
    toast(`Restored ${count(result.restored.length, 'file')}.`, 'good');
    for (const skipped of result.skipped) toast(skipped.reason, 'warn', 8000);
    app.lastBatchId = null;
    const restored = new Set(result.restored.map((r) => r.path));
    app.removedPaths = app.removedPaths.filter((path) => !restored.has(path));
    renderStashNote(stashNote);
  } catch (error) {
    toast(error.message, 'error');
  }
  await load(Math.max(0, list.selected));
}

function handleKey(event) {
  const key = event.key;
  if (key === 'j' || key === 'ArrowDown') list.select(list.selected + 1);
  else if (key === 'k' || key === 'ArrowUp') list.select(Math.max(0, list.selected - 1));
  else if (key === 'PageDown') list.select(list.selected + 10);
  else if (key === 'PageUp') list.select(Math.max(0, list.selected - 10));
  else if (/^[1-9]$/.test(key)) groupView.selectCard(Number(key) - 1);
  else if (key === 'ArrowRight') groupView.selectCard(groupView.selectedCard + 1);
  else if (key === 'ArrowLeft') groupView.selectCard(groupView.selectedCard - 1);
  else if (key === ' ') groupView.toggleSelected();
  else if (key === 'a') groupView.acceptSuggestion();
  else if (key === 'o' || key === 'Enter') groupView.openFile();
  else if (!groupView.group && key !== 'u') return false;
  else if (key === 'r' || key === 'Delete') {
    if (groupView.toRemove().length) remove(groupView.group, groupView.currentMarks());
  } else if (key === 'd') dismissGroup(groupView.group);
  else if (key === 'n') {
    const file = groupView.selectedFile();
    if (file) dismissFile(groupView.group, file);
  } else if (key === 'f') compare(groupView.group);
  else if (key === 'u') undoLast();
  else return false;
  return true;
}
