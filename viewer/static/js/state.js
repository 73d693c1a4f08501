// What the views share: the date of the data (the time slider), the active tab, and
// a small event bus (on/emit) so a view reacts to another without globals.
import { api } from './api.js';
import { lang } from './i18n.js';

const listeners = new Map();

/** Call ``fn(detail)`` on every ``emit(name, detail)``; returns the unsubscribe function. */
export function on(name, fn) {
  if (!listeners.has(name)) listeners.set(name, new Set());
  listeners.get(name).add(fn);
  return () => listeners.get(name).delete(fn);
}

/** Tell the listeners of ``name``. Events: 'asof' (date), 'tab' (tab id), 'layers' (catalog reloaded). */
export function emit(name, detail) {
  for (const fn of [...(listeners.get(name) || [])]) {
    try { fn(detail); } catch (e) { console.error(name, e); }
  }
}

/** The viewer's shared state; views keep their own figures here for the tests to read. */
export const state = {
  asOf: null,   // the date of the data, YYYY-MM-DD (null: today)
  dates: [],    // the time slider's dates
  tab: 'layers',
  get lang() { return lang(); },
  get key() { return api.key(); },
  get role() { return api.role(); },
};

/** Set the date of the data and tell the views ('asof'). */
export function setAsOf(d) {
  state.asOf = d;
  emit('asof', d);
}

export default state;
