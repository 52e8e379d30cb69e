// Comparing two images of a group: side by side at the same scale with a zoom whose panning
// is synced, a flicker and an overlay to spot changes, a difference map, and the score.

import { api } from './api.js';
import { h, mount } from './dom.js';
import { basename, resolution } from './format.js';
import { keeperFirst } from './groupview.js';
import { dialog } from './ui.js';

const ZOOMS = [1, 2, 4];

/** The key to a difference map (media/similarity.py: amplified 16×, the inferno colours). */
export function differenceLegend() {
  return h('div', { class: 'difference-legend', role: 'note' },
    h('span', {}, 'same'),
    h('span', { class: 'difference-scale', 'aria-hidden': 'true' }),
    h('span', {}, 'different'),
    h('span', { class: 'muted small' }, ' · amplified: a 6 % brightness change is already '
      + 'the brightest yellow; re-encoding noise stays near black'));
}

export function compareImages(group) {
  const files = keeperFirst(group.files, group.keeper_id); // numbered as the cards are
  const state = { a: 0, b: 1, mode: 'side', zoom: 1 };
  const stage = h('div', { class: 'image-stage' });
  const score = h('span', { class: 'score', id: 'image-score' }, '…');
  let flicker = 0;

  const select = (key) => h('select', { id: `image-${key}`, onChange: (event) => {
    state[key] = Number(event.target.value);
    render();
  } }, files.map((file, index) => h('option', { value: String(index),
    selected: index === state[key] }, `${index + 1}. ${basename(file.path)}`)));
  const modeButton = (mode, label) => h('button', { type: 'button', dataset: { mode },
    class: `segment${state.mode === mode ? ' active' : ''}`, onClick: () => {
      state.mode = mode;
      render();
    } }, label);
  const modes = h('div', { class: 'segmented', role: 'group', 'aria-label': 'View' },
    modeButton('side', 'Side by side'), modeButton('flicker', 'Flicker'),
    modeButton('overlay', 'Overlay'), modeButton('difference', 'Difference'));
  const zoom = h('select', { id: 'image-zoom', title: 'Zoom (panning stays in sync)',
    onChange: (event) => {
      state.zoom = Number(event.target.value);
      render();
    } }, ZOOMS.map((value) => h('option', { value: String(value) },
    value === 1 ? 'Fit' : `${value}×`)));

  const body = h('div', { class: 'image-compare' },
    h('div', { class: 'image-controls' }, select('a'), ' vs ', select('b'), modes, zoom,
      h('span', { class: 'muted' }, 'similarity '), score),
    stage);
  dialog({ title: 'Compare images', body, className: 'images-dialog',
    onClose: () => clearInterval(flicker) });

  function picture(file) {
    const image = h('img', { src: api.mediaUrl(file.file_id), alt: file.name,
      draggable: 'false' });
    if (state.zoom === 1) image.classList.add('fit');
    else image.style.width = `${state.zoom * 100}%`;
    return image;
  }

  function pane(file, caption) {
    return h('figure', { class: 'image-pane' },
      h('div', { class: 'image-scroll' }, picture(file)),
      h('figcaption', {}, caption || `${basename(file.path)} · ${resolution(file.width,
        file.height)}`));
  }

  function syncScrolling() {
    const scrollers = [...stage.querySelectorAll('.image-scroll')];
    for (const scroller of scrollers) {
      scroller.addEventListener('scroll', () => {
        for (const other of scrollers) {
          if (other === scroller) continue;
          other.scrollLeft = scroller.scrollLeft;
          other.scrollTop = scroller.scrollTop;
        }
      });
    }
  }

  function render() {
    clearInterval(flicker);
    for (const button of modes.children) {
      button.classList.toggle('active', button.dataset.mode === state.mode);
    }
    const a = files[state.a];
    const b = files[state.b];
    score.textContent = '…';
    api.compareImages(a.file_id, b.file_id).then((result) => {
      score.textContent = `${Math.round(result.score * 100)}%`;
    }, (error) => { score.textContent = error.message; });
    if (state.mode === 'side') {
      mount(stage, h('div', { class: 'image-pair' }, pane(a), pane(b)));
      syncScrolling();
    } else if (state.mode === 'flicker') {
      const shown = pane(a);
      const [image] = shown.getElementsByTagName('img');
      const caption = shown.querySelector('figcaption');
      const sources = [a, b].map((file) => api.mediaUrl(file.file_id));
      let showing = 0;
      mount(stage, shown);
      flicker = setInterval(() => {
        showing = 1 - showing;
        image.src = sources[showing];
        caption.textContent = `${showing ? 'B' : 'A'}: ${basename([a, b][showing].path)}`;
      }, 600);
    } else if (state.mode === 'overlay') {
      const top = picture(b);
      top.classList.add('overlay-top');
      const slider = h('input', { type: 'range', min: 0, max: 100, value: '50',
        onInput: (event) => { top.style.opacity = String(event.target.value / 100); } });
      top.style.opacity = '0.5';
      mount(stage, h('figure', { class: 'image-pane' },
        h('div', { class: 'image-scroll overlay' }, picture(a), top),
        h('figcaption', {}, 'A ', slider, ' B')));
    } else {
      mount(stage, h('figure', { class: 'image-pane' },
        h('div', { class: 'image-scroll' }, h('img', {
          src: api.imageDifferenceUrl(a.file_id, b.file_id), alt: '',
          style: { width: `${state.zoom * 100}%` } })),
        h('figcaption', {}, differenceLegend())));
    }
  }
  render();
}
