// One group's files as cards side by side, rows aligned (CSS subgrid): what differs stands
// out, the best value of each row is highlighted, each card is marked keep or remove.

import { api, windowApi } from './api.js';
import { h, mount } from './dom.js';
import {
  basename, bitRate, bytes, dateTime, dirname, duration, frameRate, resolution,
} from './format.js';
import { app } from './state.js';
import { mergeButton, mergeIntoKeeperButton } from './stash.js';
import { dialog, toast } from './ui.js';

const item = (file) => file.items[0] || {};

/** A group's files in the order shown and numbered: the suggested keeper first, then the
 * others in the API's order (the keeper's card is pinned as the first column). */
export const keeperFirst = (files, keeperId) => [...files].sort((a, b) =>
  (b.file_id === keeperId) - (a.file_id === keeperId));

/** Whether frame sampling found black bars around a video's picture. */
const hasBars = (f) => Boolean(f.picture_width && f.picture_height
  && (f.picture_width !== f.width || f.picture_height !== f.height));
const pictureArea = (f) => (hasBars(f) ? f.picture_width * f.picture_height
  : (f.width || 0) * (f.height || 0));
const resolutionText = (f) => (hasBars(f)
  ? `${resolution(f.width, f.height)} · picture ${resolution(f.picture_width, f.picture_height)}`
  : resolution(f.width, f.height));

// Each row: a label, how to read a comparable value, how to show it, which end is best.
const ROWS = [
  { label: 'Size', value: (f) => f.size, show: (f) => bytes(f.size), best: 'max' },
  { label: 'Resolution', value: pictureArea, show: resolutionText, best: 'max',
    title: 'Frame size; for videos with black bars, the picture inside them once frames '
      + 'were compared' },
  { label: 'Duration', media: 'video', value: (f) => f.duration,
    show: (f) => duration(f.duration), best: 'max' },
  { label: 'Bit rate', media: 'video', value: (f) => f.bit_rate,
    show: (f) => bitRate(f.bit_rate), best: 'max' },
  { label: 'Codec', show: (f) => (f.media === 'video'
    ? [f.video_codec, f.audio_codec].filter(Boolean).join(' / ') : f.format) || '—' },
  { label: 'Frame rate', media: 'video', value: (f) => f.frame_rate,
    show: (f) => frameRate(f.frame_rate), best: 'max' },
  { label: 'Modified', value: (f) => f.mod_time_epoch, show: (f) => dateTime(f.mod_time),
    best: 'min', hint: 'oldest' },
  { label: 'Title', show: (f) => item(f).title || '—' },
  { label: 'Studio', show: (f) => item(f).studio || '—' },
  { label: 'Date', show: (f) => item(f).date || '—' },
  { label: 'Rating', value: (f) => item(f).rating,
    show: (f) => (item(f).rating ? `${item(f).rating / 20} ★` : '—'), best: 'max' },
  { label: 'Plays', media: 'video', value: (f) => item(f).play_count,
    show: (f) => item(f).play_count ?? 0, best: 'max' },
  { label: 'O count', value: (f) => item(f).o_count, show: (f) => item(f).o_count ?? 0,
    best: 'max' },
  { label: 'Tags', value: (f) => item(f).tag_count, show: (f) => item(f).tag_count ?? 0,
    best: 'max' },
  { label: 'Performers', value: (f) => item(f).performer_count,
    show: (f) => item(f).performer_count ?? 0, best: 'max' },
  { label: 'Markers', media: 'video', value: (f) => item(f).marker_count,
    show: (f) => item(f).marker_count ?? 0, best: 'max' },
  { label: 'Stash IDs', media: 'video', value: (f) => item(f).stash_id_count,
    show: (f) => item(f).stash_id_count ?? 0, best: 'max' },
  { label: 'Galleries', media: 'image', show: (f) => (item(f).gallery_ids || []).length },
  { label: 'Files in item', show: (f) => (f.items.length
    ? f.items.map((scene) => scene.file_count).join(', ') : '—'),
  title: 'How many files the Stash scene or image has' },
  { label: 'Distance', show: (f) => (f.distance === null ? '—' : f.distance),
    title: 'Hamming distance of the phash to the suggested keeper\'s' },
  { label: 'pHash', show: (f) => f.phash || '—', mono: true },
];

/** The file's scene or image page in Stash, or null when Stash lists it in no item. */
const stashPageUrl = (file) => (file.items.length && app.settings?.stash_page_base
  ? `${app.settings.stash_page_base}/${file.media === 'video' ? 'scenes' : 'images'}/`
    + `${file.items[0].item_id}` : null);

/** "Open in Stash": a plain link in a browser; the window hands it to the system browser. */
function openInStashLink(file) {
  const href = stashPageUrl(file);
  if (!href) return null;
  return h('a', { class: 'link-button open-in-stash', href, target: '_blank',
    rel: 'noopener noreferrer', title: `Open this ${file.media === 'video' ? 'scene' : 'image'}`
      + ` in Stash: ${href}`,
    onClick: (event) => {
      event.stopPropagation();
      if (!windowApi()) return;
      event.preventDefault();
      api.openUrl(href).catch((error) => toast(error.message, 'error'));
    } }, 'Open in Stash');
}

export class GroupView {
  /**
   * @param handlers {onRemove(group, marks), onDismissGroup(group), onDismissFile(group, file),
   *                  onCompare(group)}
   */
  constructor(element, handlers) {
    this.element = element;
    this.handlers = handlers;
    this.marks = new Map();
    this.touched = new Set(); // groups whose marks the user changed by hand
    this.group = null;
    this.files = []; // the group's files as shown: the suggested keeper first (pinned)
    this.selectedCard = 0;
    this.request = 0;
  }

  empty(message) {
    this.group = null;
    mount(this.element, h('div', { class: 'empty' }, message));
  }

  async show(groupId, position) {
    const request = ++this.request;
    this.position = position;
    if (!this.group) mount(this.element, h('div', { class: 'empty' }, 'Loading…'));
    else this.element.classList.add('stale');
    let group;
    try {
      group = await api.group(groupId);
    } catch (error) {
      if (request === this.request) {
        this.element.classList.remove('stale');
        this.empty(error.message);
      }
      return;
    }
    if (request !== this.request) return;
    this.element.classList.remove('stale');
    this.group = group;
    this.files = keeperFirst(group.files, group.keeper_id);
    this.marksFor(group);
    this.selectedCard = 0;
    this.render();
  }

  /** Fetch the shown group again (after frames were compared, say). */
  reload() {
    if (this.group) return this.show(this.group.id, this.position);
    return Promise.resolve();
  }

  /** The marks of a group: kept across navigation, reset if they no longer fit. */
  marksFor(group) {
    const ids = group.files.map((file) => file.file_id);
    let marks = this.marks.get(group.id);
    if (marks) for (const id of [...marks.keys()]) if (!ids.includes(id)) marks.delete(id);
    // Marks the user never touched follow the suggestion (it moves when frames show bars, a
    // file stops being protected once its scene is merged into the keeper's).
    const stale = marks && !this.touched.has(group.id);
    if (!marks || stale || ids.some((id) => !marks.has(id))
      || ![...marks.values()].includes('keep')) {
      // The server's suggestion: present copies of the keeper (within the group's distance
      // and duration tolerance of it) that lose nothing in Stash and lie in no protected
      // folder, what the group's "reclaimable" counts; any other member stays until the user
      // marks it, and a missing file can never be marked.
      const suggested = new Set(group.files.filter((f) => f.suggested_remove)
        .map((f) => f.file_id));
      marks = new Map(ids.map((id) => [id,
        id !== group.keeper_id && suggested.has(id) ? 'remove' : 'keep']));
      this.marks.set(group.id, marks);
    }
    return marks;
  }

  currentMarks() {
    return this.group ? this.marksFor(this.group) : null;
  }

  toggle(fileId) {
    const marks = this.currentMarks();
    if (!marks) return;
    const next = marks.get(fileId) === 'keep' ? 'remove' : 'keep';
    const file = this.group.files.find((f) => f.file_id === fileId);
    if (next === 'remove' && file?.protected_folder) {
      toast(`Files in the protected folder ${file.protected_folder} are never removed `
        + '(Settings).', 'warn');
      this.shake(fileId);
      return;
    }
    if (next === 'remove' && file?.present === false) {
      toast('This file was not found at its path: there is nothing to remove.', 'warn');
      return;
    }
    const presentKept = this.group.files.filter((f) => f.present !== false
      && marks.get(f.file_id) === 'keep');
    if (next === 'remove' && presentKept.length <= 1) {
      toast('Each group keeps at least one file: mark another one keep first.', 'warn');
      this.shake(fileId);
      return;
    }
    marks.set(fileId, next);
    this.touched.add(this.group.id);
    this.render();
  }

  shake(fileId) {
    const card = this.element.querySelector(`.card[data-file-id="${fileId}"]`);
    card?.classList.add('shake');
    setTimeout(() => card?.classList.remove('shake'), 400);
  }

  toggleSelected() {
    const file = this.group && this.files[this.selectedCard];
    if (file) this.toggle(file.file_id);
  }

  acceptSuggestion() {
    if (!this.group) return;
    this.marks.delete(this.group.id);
    this.touched.delete(this.group.id);
    this.marksFor(this.group);
    this.render();
  }

  selectCard(index) {
    if (!this.group) return;
    this.selectedCard = Math.max(0, Math.min(this.files.length - 1, index));
    this.render();
    this.element.querySelector('.card.selected')?.scrollIntoView({ block: 'nearest',
      inline: 'nearest' });
  }

  selectedFile() {
    return (this.group && this.files[this.selectedCard]) || null;
  }

  toRemove() {
    const marks = this.currentMarks();
    return this.group ? this.group.files.filter((f) => marks.get(f.file_id) === 'remove') : [];
  }

  openFile(file = this.selectedFile()) {
    if (!file) return;
    const source = api.mediaUrl(file.file_id);
    const media = file.media === 'video'
      ? h('video', { src: source, controls: true, autoplay: true, class: 'viewer-media' })
      : h('img', { src: source, alt: file.name, class: 'viewer-media' });
    media.addEventListener('error', () => {
      media.replaceWith(h('p', { class: 'inline-error' },
        'This file cannot be shown here (missing, or a format this viewer cannot play).'));
    });
    const external = h('button', { type: 'button', class: 'button', hidden: true,
      onClick: () => windowApi()?.open_file(file.file_id) }, 'Open in the default player');
    if (windowApi()?.open_file) external.hidden = false;
    dialog({ title: file.path, body: h('div', { class: 'viewer-body' }, media, external),
      className: 'viewer' });
  }

  render() {
    const group = this.group;
    if (!group) return;
    const marks = this.marksFor(group);
    const rows = ROWS.filter((row) => !row.media || row.media === group.media);
    const removing = group.files.filter((f) => marks.get(f.file_id) === 'remove');
    const removeBytes = removing.reduce((sum, f) => sum + f.size, 0);
    const cards = h('div', { class: 'cards' });
    cards.style.gridTemplateRows = `auto repeat(${rows.length}, auto)`;
    cards.style.gridTemplateColumns = 'var(--label-width)';
    const span = `1 / span ${rows.length + 1}`;

    const labels = h('div', { class: 'card-labels' },
      h('div', { class: 'card-head label-head' }),
      rows.map((row, index) => h('div', {
        class: `label ${this.differs(row, group.files) ? 'differs' : ''}`,
        title: row.title || (this.differs(row, group.files) ? 'Values differ' : ''),
        dataset: { row: String(index) },
      }, row.label)));
    labels.style.gridRow = span;
    cards.append(labels);

    this.files.forEach((file, index) => {
      const mark = marks.get(file.file_id);
      const suggested = file.file_id === group.keeper_id;
      const card = h('article', {
        class: `card card-${mark}${index === this.selectedCard ? ' selected' : ''}`
          + `${suggested ? ' pinned' : ''}${file.present === false ? ' card-missing' : ''}`,
        dataset: { fileId: String(file.file_id), index: String(index) },
        'aria-label': `${mark === 'keep' ? 'Keep' : 'Remove'}: ${file.path}`,
        onClick: () => {
          if (this.selectedCard !== index) this.selectCard(index);
        },
      },
      h('div', { class: 'card-head' },
        file.present === false ? h('div', { class: 'thumb thumb-missing loaded',
          title: `${file.path} is not on this machine's disk` },
        h('span', { class: 'missing-text' }, 'Not found at its path'),
        h('span', { class: 'card-number' }, String(index + 1))) : h('div', { class: 'thumb',
          title: 'Open (o)', onClick: () => this.openFile(file) },
          h('img', { src: api.thumbnailUrl(file.file_id), alt: '',
            loading: 'lazy',
            onLoad: (event) => event.target.parentElement.classList.add('loaded'),
            onError: (event) => {
              event.target.parentElement.classList.add('loaded', 'broken');
            } }),
          h('span', { class: 'card-number' }, String(index + 1)),
          suggested ? h('span', { class: 'badge badge-good thumb-suggested', title:
            'Suggested by your keeper rules' }, 'suggested') : null,
          !suggested && !file.copy_of_keeper ? h('span', {
            class: 'badge badge-warn thumb-far',
            title: `Not within distance ${group.distance_limit}`
              + (group.duration_percent !== null && group.duration_percent !== undefined
                ? ` and ± ${group.duration_percent} % of the duration`
                : group.duration_tolerance === null ? ''
                  : ` and ± ${group.duration_tolerance} s`)
              + ' of the suggested keeper, so it is never marked remove for you',
          }, 'not a close copy') : null,
          file.media === 'video' && file.duration
            ? h('span', { class: 'thumb-duration' }, duration(file.duration)) : null),
        h('div', { class: 'card-name', title: file.path }, basename(file.path)),
        h('div', { class: 'card-folder', title: file.path }, dirname(file.path)),
        file.protected_folder ? h('span', { class: 'badge badge-protected protected-folder',
          title: `In the protected folder ${file.protected_folder}: never removed `
            + '(Settings → Protected folders)' }, 'protected folder') : null,
        h('div', { class: 'card-actions' },
          h('button', { type: 'button', class: `mark-toggle mark-${mark}`,
            'aria-pressed': mark === 'keep' ? 'true' : 'false',
            disabled: file.present === false || !group.resolvable,
            title: file.present === false ? 'Not found at its path: nothing to remove'
              : 'Toggle keep / remove (Space)',
            onClick: (event) => {
              event.stopPropagation();
              this.selectedCard = index;
              this.toggle(file.file_id);
            } }, file.present === false ? 'Not on disk'
            : mark === 'keep' ? '✓ Keep' : '✕ Remove'),
          h('button', { type: 'button', class: 'link-button dismiss-file',
            title: 'Not a duplicate of the others: take it out of this group (n)',
            onClick: (event) => {
              event.stopPropagation();
              this.handlers.onDismissFile(group, file);
            } }, 'not a duplicate'),
          openInStashLink(file)),
        this.protectionWarning(group, file, mark)),
      rows.map((row, rowIndex) => this.cell(row, rowIndex, file, group.files)));
      card.style.gridRow = span;
      cards.append(card);
    });

    const header = h('div', { class: 'group-header' },
      h('div', { class: 'group-title' },
        h('h2', {}, `Group ${this.position.index + 1} of ${this.position.total.toLocaleString()}`),
        h('span', { class: 'muted' },
          `${group.present_count} files`
          + (group.missing_count ? ` (+ ${group.missing_count} not found)` : '')
          + (group.files.length < group.count ? ` (the first ${group.files.length} shown)` : '')
          + ` · ${bytes(group.total_size)} total · ${bytes(group.reclaimable)} reclaimable · `
          + (group.kind === 'same_item' ? 'one Stash item with several files'
            : `max distance ${group.max_distance}`)),
        group.suspicious ? h('span', { class: 'badge badge-warn' },
          'flat hash: check carefully') : null),
      h('div', { class: 'group-actions' },
        h('button', { type: 'button', class: 'button', id: 'accept-suggestion',
          title: 'Reset the marks to the suggestion (a)',
          onClick: () => this.acceptSuggestion() }, 'Accept suggestion'),
        h('button', { type: 'button', class: 'button', id: 'compare',
          title: 'Compare the files side by side (f)',
          onClick: () => this.handlers.onCompare(group) },
        group.media === 'video' ? 'Compare frames' : 'Compare images'),
        h('button', { type: 'button', class: 'button', id: 'dismiss-group',
          title: 'These are not duplicates: hide this group (d)',
          onClick: () => this.handlers.onDismissGroup(group) }, 'Not duplicates'),
        mergeButton(group, group.files.find((f) => marks.get(f.file_id) === 'keep'),
          () => this.show(group.id, this.position)),
        group.resolvable ? h('button', { type: 'button', class: 'button button-danger',
          id: 'remove-marked', disabled: removing.length === 0,
          title: 'Remove the files marked remove (r)',
          onClick: () => this.handlers.onRemove(group, marks) },
        removing.length ? `Remove ${removing.length} (${bytes(removeBytes)})`
          : 'Nothing to remove') : null),
      group.resolvable ? null : h('p', { class: 'unresolvable', id: 'unresolvable',
        role: 'note' }, `Only ${group.present_count} of its ${group.files.length} files `
        + 'were found at their paths: this group cannot be resolved here. Check the path '
        + 'mappings in Settings, or let Stash rescan.'));

    mount(this.element, header, h('div', { class: 'cards-scroll' }, cards));
  }

  /** What removing the file would lose in Stash that the suggested keeper lacks, and how
   * to keep it: merge the scenes first (videos, Stash connected). */
  protectionWarning(group, file, mark) {
    if (!file.protections?.length || file.file_id === group.keeper_id) return null;
    const keeper = group.files.find((f) => f.file_id === group.keeper_id);
    const what = group.media === 'video' ? 'scene' : 'image';
    return h('div', { class: `protection-warning${mark === 'remove' ? ' removing' : ''}`,
      role: 'note' },
    h('div', { class: 'protection-title' }, mark === 'remove'
      ? `⚠ Removing it loses what the keeper's ${what} lacks:`
      : `⚠ Not suggested for removal: its ${what} has what the keeper's lacks`),
    h('ul', { class: 'protection-losses protection-chips' },
      file.protections.map((loss) => h('li', { dataset: { kind: loss.kind } }, loss.text))),
    mergeIntoKeeperButton(group, file, keeper, () => this.show(group.id, this.position)));
  }

  differs(row, files) {
    const shown = files.map((f) => String(row.show(f)));
    return shown.some((value) => value !== shown[0]);
  }

  cell(row, rowIndex, file, files) {
    const shown = row.show(file);
    const classes = ['cell'];
    if (row.mono) classes.push('mono');
    if (this.differs(row, files)) {
      if (row.best && row.value) {
        const values = files.map((f) => row.value(f) ?? null).filter((v) => v !== null);
        const best = row.best === 'max' ? Math.max(...values) : Math.min(...values);
        if (values.length && row.value(file) === best) classes.push('best');
      } else {
        classes.push('diff');
      }
    }
    return h('div', { class: classes.join(' '), dataset: { row: String(rowIndex) },
      title: row.mono ? String(shown) : null }, String(shown));
  }
}
