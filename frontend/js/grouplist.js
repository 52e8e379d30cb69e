// The group list: virtualized (only the visible rows exist in the DOM) and paged from the
// API, so 50,000 groups scroll as smoothly as 50.

import { h, mount } from './dom.js';
import { basename, bytes, count } from './format.js';

const ROW_HEIGHT = 52; // px; .group-row's height in app.css
export const PAGE_SIZE = 200;
const OVERSCAN = 6;

export class GroupList {
  /**
   * @param element the scrolling container
   * @param fetchPage (offset, limit) => Promise<items>
   * @param onSelect (index, item) => Promise, settled once the selected group is shown
   */
  constructor(element, { fetchPage, onSelect }) {
    this.element = element;
    this.fetchPage = fetchPage;
    this.onSelect = onSelect;
    this.total = 0;
    this.pages = new Map();
    this.loading = new Map();
    this.generation = 0;
    this.selected = -1;
    this.frame = 0;
    element.classList.add('group-list');
    element.tabIndex = 0;
    element.setAttribute('role', 'listbox');
    element.setAttribute('aria-label', 'Duplicate groups');
    this.spacer = h('div', { class: 'group-list-spacer' });
    element.append(this.spacer);
    element.addEventListener('scroll', () => this.schedule(), { passive: true });
    element.addEventListener('click', (event) => {
      const row = event.target.closest('.group-row');
      if (row) this.select(Number(row.dataset.index));
    });
    new ResizeObserver(() => this.schedule()).observe(element);
  }

  /** New results (a new filter, or after a removal): page 0 is already known. */
  reset(total, firstItems) {
    this.generation += 1;
    this.total = total;
    this.pages = new Map([[0, firstItems]]);
    this.loading = new Map();
    this.selected = -1;
    this.spacer.style.height = `${total * ROW_HEIGHT}px`;
    if (this.element.scrollTop > total * ROW_HEIGHT) this.element.scrollTop = 0;
    this.render();
  }

  item(index) {
    const page = Math.floor(index / PAGE_SIZE);
    const items = this.pages.get(page);
    if (!items) {
      this.load(page);
      return null;
    }
    return items[index - page * PAGE_SIZE] || null;
  }

  load(page) {
    if (this.loading.has(page)) return this.loading.get(page);
    const generation = this.generation;
    const promise = this.fetchPage(page * PAGE_SIZE, PAGE_SIZE).then((items) => {
      if (generation !== this.generation) return null;
      this.pages.set(page, items);
      this.loading.delete(page);
      this.schedule();
      return items;
    }, (error) => {
      this.loading.delete(page);
      throw error;
    });
    this.loading.set(page, promise);
    return promise;
  }

  async itemAsync(index) {
    const known = this.item(index);
    if (known) return known;
    await this.load(Math.floor(index / PAGE_SIZE));
    return this.item(index);
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  render() {
    const top = this.element.scrollTop;
    const height = this.element.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.total - 1, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
    const rows = [];
    for (let index = first; index <= last; index += 1) rows.push(this.row(index));
    mount(this.spacer, rows);
  }

  row(index) {
    const item = this.item(index);
    const selected = index === this.selected;
    const props = {
      class: `group-row${selected ? ' selected' : ''}${item?.suspicious ? ' suspicious' : ''}`
        + (item && item.resolvable === false ? ' unresolvable' : ''),
      dataset: { index: String(index), id: item ? item.id : '' },
      role: 'option',
      'aria-selected': selected ? 'true' : 'false',
      style: { top: `${index * ROW_HEIGHT}px` },
    };
    if (!item) return h('div', props, h('div', { class: 'row-name muted' }, 'Loading…'));
    return h('div', props,
      h('div', { class: 'row-line' },
        h('span', { class: 'row-name', title: item.first_path }, basename(item.first_path)),
        h('span', { class: 'row-bytes' }, bytes(item.reclaimable))),
      h('div', { class: 'row-line row-meta' },
        h('span', {}, `${index + 1}. `, h('b', {}, item.present_count ?? item.count),
          (item.present_count ?? item.count) === 1 ? ' file' : ' files'),
        item.missing_count ? h('span', { class: 'badge badge-warn row-missing', title:
          `${item.missing_count} of its files were not found at their paths`
          + (item.resolvable ? '' : ': it cannot be resolved here') },
        `${item.missing_count} missing`) : null,
        item.kind === 'same_item' ? h('span', { class: 'badge' }, 'same item')
          : h('span', { class: 'badge' }, item.max_distance ? `distance ≤ ${item.max_distance}`
            : 'identical hash'),
        item.suspicious ? h('span', { class: 'badge badge-warn', title:
          'Flat pictures all share this phash: probably not real duplicates' }, 'flat hash')
          : null));
  }

  /** Select a row, keep it in view, and report it. */
  async select(index, { notify = true } = {}) {
    if (!this.total) return;
    index = Math.max(0, Math.min(this.total - 1, index));
    this.selected = index;
    const top = index * ROW_HEIGHT;
    const height = this.element.clientHeight || 600;
    if (top < this.element.scrollTop) this.element.scrollTop = top;
    else if (top + ROW_HEIGHT > this.element.scrollTop + height) {
      this.element.scrollTop = top + ROW_HEIGHT - height;
    }
    this.render();
    if (!notify) return;
    const generation = this.generation;
    const item = await this.itemAsync(index);
    if (item && generation === this.generation && index === this.selected) {
      await this.onSelect(index, item);
    }
  }
}

/**
 * The list's header: how many groups the filter finds and what removing every suggested
 * copy would free (each group's "reclaimable", the figure its Remove button starts at), then
 * the actions on the whole view: auto-resolve, the byte-identical bulk action, export.
 */
export function renderListHeader(element, page, { onAutoResolve, onAcceptIdentical, exportUrl }) {
  const reclaimable = bytes(page.reclaimable);
  mount(element,
    h('div', { class: 'list-count', title: `${count(page.total, 'group')}, ${reclaimable} `
      + 'freed by removing every file their suggestions mark Remove' },
    h('b', {}, count(page.total, 'group')), ' · ', h('b', { class: 'list-reclaimable' },
      reclaimable), ' reclaimable'),
    page.total ? h('div', { class: 'list-actions' },
      h('button', { type: 'button', class: 'link-button', id: 'auto-resolve',
        title: 'Resolve the groups whose copies all match their keeper',
        onClick: onAutoResolve }, 'Auto-resolve…'),
      h('button', { type: 'button', class: 'link-button', id: 'accept-identical',
        title: 'Accept the suggestions of every group in this view whose files are the same '
          + 'bytes (same size and md5 or oshash)', onClick: onAcceptIdentical },
      'Byte-identical…'),
      h('span', { class: 'export-links' }, 'Export ',
        h('a', { href: exportUrl('csv'), id: 'export-groups-csv', download: 'stash-dedupe-groups.csv',
          title: 'This view\'s groups, one row per file with its suggested mark' }, 'CSV'),
        ' · ',
        h('a', { href: exportUrl('json'), id: 'export-groups-json',
          download: 'stash-dedupe-groups.json' }, 'JSON'))) : null);
}
