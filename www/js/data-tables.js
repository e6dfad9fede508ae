// Every chart's numbers as a table on screen, on demand: a "Show the numbers" button before
// each chart's data table (the `*-fallback` elements, which screen readers always read and
// which are visually hidden until shown), so the charts never rely on colour or sight alone.
import { el } from './dom.js';

export function offerDataTables() {
  for (const box of document.querySelectorAll('[id$="-fallback"].visually-hidden')) {
    const button = el('button', { type: 'button', class: 'data-toggle', 'aria-controls': box.id, 'aria-expanded': 'false', text: 'Show the numbers' });
    button.addEventListener('click', () => {
      const open = box.classList.contains('visually-hidden');
      box.classList.toggle('visually-hidden', !open);
      box.classList.toggle('data-table', open);
      button.setAttribute('aria-expanded', String(open));
      button.textContent = open ? 'Hide the numbers' : 'Show the numbers';
    });
    box.before(button);
  }
}
