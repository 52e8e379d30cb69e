// How numbers look on the page: sizes, durations, bit rates, dates.

export function bytes(size) {
  if (size === null || size === undefined) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = size;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

export function duration(seconds) {
  if (!seconds) return '—';
  const total = Math.round(seconds * 10) / 10;
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = total % 60;
  const secondsText = rest.toFixed(rest % 1 ? 1 : 0).padStart(rest % 1 ? 4 : 2, '0');
  return hours ? `${hours}:${String(minutes).padStart(2, '0')}:${secondsText}`
    : `${minutes}:${secondsText}`;
}

export function bitRate(bitsPerSecond) {
  if (!bitsPerSecond) return '—';
  if (bitsPerSecond >= 1e6) return `${(bitsPerSecond / 1e6).toFixed(2)} Mb/s`;
  return `${Math.round(bitsPerSecond / 1e3)} kb/s`;
}

export function resolution(width, height) {
  return width && height ? `${width}×${height}` : '—';
}

export function frameRate(rate) {
  return rate ? `${Math.round(rate * 100) / 100} fps` : '—';
}

export function dateTime(text) {
  if (!text) return '—';
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) return text;
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} `
    + `${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function count(n, singular, plural) {
  return `${n.toLocaleString()} ${n === 1 ? singular : (plural || `${singular}s`)}`;
}

export function basename(path) {
  const parts = String(path).split(/[\\/]/);
  return parts[parts.length - 1] || path;
}

export function dirname(path) {
  const text = String(path);
  const index = Math.max(text.lastIndexOf('/'), text.lastIndexOf('\\'));
  return index > 0 ? text.slice(0, index) : '';
}
