// Frame comparison of a video group: one strip of sampled frames per file, aligned column by
// column, with a score per column; a column zooms across all files; a heat map shows where
// two files differ.

import { api } from './api.js';
import { h, mount } from './dom.js';
import { basename } from './format.js';
import { differenceLegend } from './images.js';
import { followJob } from './jobs.js';
import { dialog } from './ui.js';

const percent = (score) => (score === null || score === undefined ? '—'
  : `${Math.round(score * 100)}%`);

function scoreClass(score) {
  if (score === null || score === undefined) return '';
  if (score >= 0.8) return 'score-good';
  if (score >= 0.5) return 'score-mid';
  return 'score-bad';
}

export async function compareFrames(group) {
  const body = h('div', { class: 'frames' },
    h('p', { class: 'muted' }, h('span', { class: 'spinner' }),
      ' Sampling frames of every file…'));
  const { close } = dialog({ title: `Compare frames: ${group.files.length} files`, body,
    className: 'frames-dialog' });
  let job;
  try {
    const started = await api.compareFrames(group.id);
    job = await followJob(started.job_id, null);
  } catch (error) {
    mount(body, h('p', { class: 'inline-error' }, error.message));
    return null;
  }
  if (job.state !== 'done') {
    mount(body, h('p', { class: 'inline-error' }, job.message || `The comparison ${job.state}.`));
    return null;
  }
  render(body, group, job.job_id, job.result, close);
  return job.result;
}

function render(body, group, jobId, result, close) {
  const columns = result.positions.length;
  // Rows in the cards' order and numbering: the keeper first, then the group's order.
  const order = [result.keeper_index, ...result.files.map((_, index) => index)
    .filter((index) => index !== result.keeper_index)];
  const number = (index) => order.indexOf(index) + 1;
  const grid = h('div', { class: 'strip-grid' });
  grid.style.gridTemplateColumns = `var(--strip-label) repeat(${columns}, 1fr)`;
  grid.append(h('div', { class: 'strip-head' }, 'File · score'));
  result.positions.forEach((position, column) => grid.append(h('button', {
    type: 'button', class: 'strip-head link-button', title: 'Zoom this column',
    onClick: () => zoom(column) }, `${Math.round(position * 100)}%`)));
  order.forEach((index) => {
    const file = result.files[index];
    const keeper = index === result.keeper_index;
    grid.append(h('div', { class: 'strip-label', title: file.path },
      h('div', { class: 'strip-name' }, `${number(index)}. ${basename(file.path)}`),
      h('div', {}, keeper ? h('span', { class: 'badge badge-good' }, 'keeper')
        : h('span', { class: `score ${scoreClass(file.score)}` }, percent(file.score)),
      file.offset_seconds ? h('span', { class: 'muted small' },
        ` shifted ${file.offset_seconds.toFixed(1)} s`) : null,
      file.has_bars ? h('div', { class: 'muted small bars-note', title: 'Black bars are left '
        + 'out of the comparison and of the keeper\'s resolution' },
      `black bars: picture ${file.picture_size.join('×')} in ${file.frame_size.join('×')}`)
        : null),
      file.error ? h('div', { class: 'inline-error small' }, file.error) : null));
    for (let column = 0; column < columns; column += 1) {
      if (file.error || !file.frame_count) {
        grid.append(h('div', { class: 'strip-cell missing' }));
        continue;
      }
      const score = keeper ? null : file.column_scores[column];
      grid.append(h('div', { class: 'strip-cell', onClick: () => zoom(column) },
        h('img', { src: api.frameUrl(jobId, index, column), alt: '', loading: 'lazy' }),
        score === null || score === undefined ? null
          : h('span', { class: `cell-score ${scoreClass(score)}` }, percent(score))));
    }
  });

  const usable = order.map((index) => ({ file: result.files[index], index }))
    .filter(({ file }) => !file.error && file.frame_count);
  const pick = (id, selected) => h('select', { id },
    usable.map(({ file, index }) => h('option', { value: String(index),
      selected: index === selected }, `${number(index)}. ${basename(file.path)}`)));
  // Show the least similar file against the keeper first: that is where to look.
  const others = usable.filter(({ index }) => index !== result.keeper_index)
    .sort((a, b) => (a.file.score ?? 1) - (b.file.score ?? 1));
  const other = others[0];
  const first = pick('heat-a', result.keeper_index);
  const second = pick('heat-b', other ? other.index : result.keeper_index);
  const heat = h('div', { class: 'heat-row' });
  const showHeat = () => mount(heat, result.positions.map((_, column) => h('img', {
    src: api.frameDifferenceUrl(jobId, first.value, second.value, column),
    alt: '', title: 'Black: the same; purple to yellow: more and more different' })));
  first.addEventListener('change', showHeat);
  second.addEventListener('change', showHeat);

  const keeperFile = group.files[result.keeper_index];
  const moved = keeperFile && keeperFile.file_id !== group.keeper_id;
  mount(body,
    moved ? h('p', { class: 'notice keeper-moved' }, `Suggested keeper is now `
      + `${basename(keeperFile.path)}: the black bars found in `
      + 'the frames do not count as resolution. Marks you did not change follow it.') : null,
    h('p', { class: 'muted small' }, 'Frames at the same relative positions in every file '
      + '(black bars cropped). Scores: structural similarity to the keeper, per column and '
      + 'overall (median). Click a column to zoom it.'),
    h('div', { class: 'strip-scroll' }, grid),
    usable.length >= 2 ? h('div', { class: 'heat' },
      h('div', { class: 'heat-controls' }, 'Difference of ', first, ' and ', second),
      heat, differenceLegend()) : null);
  if (usable.length >= 2) showHeat();

  function zoom(column) {
    dialog({
      title: `Frame at ${Math.round(result.positions[column] * 100)}% in every file`,
      className: 'zoom-dialog',
      body: h('div', { class: 'zoom-grid' }, usable.map(({ file, index }) => h('figure', {},
        h('img', { src: api.frameUrl(jobId, index, column), alt: '' }),
        h('figcaption', {}, `${number(index)}. ${basename(file.path)} `,
          index === result.keeper_index ? '(keeper)'
            : percent(file.column_scores[column]))))),
    });
  }
  return close;
}
