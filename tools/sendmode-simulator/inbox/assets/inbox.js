/* global document, EventSource, fetch, window */
// The simulator's inbox: renders the entries the simulator streams (see ../inbox.ts).
// No framework and no build step; every value is set as text, never as HTML.
'use strict';

const state = { entries: [], tab: 'sms', selected: null, query: '' };

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const digits = (s) => String(s).replace(/\D/g, '');

function matches(number) {
  const q = digits(state.query);
  return q === '' || digits(number).includes(q);
}

function timeOf(iso) {
  const d = new Date(iso);
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
}

/** One message per SMS and recipient, newest first; a call whose recipients are unknown counts once. */
function messages() {
  const list = [];
  for (const entry of state.entries) {
    if (entry.kind !== 'sms') continue;
    for (const sms of entry.sms ?? []) {
      const to = sms.recipients.length > 0 ? sms.recipients : ['(unknown)'];
      for (const recipient of to) list.push({ entry, sms, recipient });
    }
  }
  return list.reverse();
}

function threads() {
  const byNumber = new Map();
  for (const message of messages()) {
    if (!matches(message.recipient)) continue;
    const thread = byNumber.get(message.recipient) ?? { number: message.recipient, messages: [] };
    thread.messages.push(message);
    byNumber.set(message.recipient, thread);
  }
  return [...byNumber.values()]; // insertion order = newest message first
}

function result(entry) {
  return entry.ok
    ? el('span', 'result ok', 'accepted')
    : el('span', 'result failed', `failed: ${entry.failure}`);
}

/** Sendmode's failure statuses (delivery-reports.ts); the notes when no report comes are neutral. */
const UNDELIVERED = new Set(['EXPIRED', 'UNDELIV', 'REJECTD', 'OPTED OUT - BLOCKED']);

function delivery(entry, recipient) {
  const report = entry.delivery?.[recipient];
  if (!report) return undefined;
  const tone = report.status === 'DELIVRD' ? 'ok' : UNDELIVERED.has(report.status) ? 'failed' : '';
  const line = el('p', `delivery ${tone}`.trim());
  line.dataset.recipient = recipient;
  line.append('Delivery: ', el('strong', 'status', report.status));
  if (report.note) line.append(el('span', 'note', ` (${report.note})`));
  return line;
}

function renderThreads() {
  const list = threads();
  const numbers = list.map((t) => t.number);
  if (!numbers.includes(state.selected)) state.selected = numbers[0] ?? null;
  const ul = $('threads');
  ul.replaceChildren();
  for (const thread of list) {
    const latest = thread.messages[0];
    const failed = thread.messages.filter((m) => !m.entry.ok).length;
    const li = el('li', 'thread-item');
    li.dataset.number = thread.number;
    li.setAttribute('aria-selected', String(thread.number === state.selected));
    li.tabIndex = 0;
    const top = el('div', 'top');
    top.append(el('strong', 'number', thread.number), el('time', '', timeOf(latest.entry.at)));
    const bottom = el('div', 'bottom');
    bottom.append(el('span', 'preview', latest.sms.text || '(no text)'));
    bottom.append(el('span', 'count', String(thread.messages.length)));
    if (failed > 0) bottom.append(el('span', 'count failed', `${failed} failed`));
    li.append(top, bottom);
    const select = () => {
      state.selected = thread.number;
      render();
    };
    li.addEventListener('click', select);
    li.addEventListener('keydown', (e) => e.key === 'Enter' && select());
    ul.append(li);
  }

  const pane = $('thread');
  pane.replaceChildren();
  const thread = list.find((t) => t.number === state.selected);
  if (!thread) return;
  pane.append(el('h2', '', thread.number));
  for (const { entry, sms, recipient } of thread.messages) {
    const bubble = el('article', entry.ok ? 'sms' : 'sms failed');
    bubble.dataset.seq = String(entry.seq);
    bubble.append(el('p', 'text', sms.text || '(no text)'));
    const meta = el('p', 'meta');
    const facts = [
      `from ${sms.senderId || '(default sender)'}`,
      timeOf(entry.at),
      sms.customerId ? `customer ${sms.customerId}` : 'no customer id',
      `${sms.parts} ${sms.parts === 1 ? 'part' : 'parts'}`,
      sms.encoding,
    ];
    if (sms.scheduleDate) facts.push(`scheduled ${sms.scheduleDate}`);
    if (sms.recipients.length > 1) facts.push(`1 of ${sms.recipients.length} recipients`);
    if (entry.apiVersion === 'v3') facts.push('Sendmode 3.0');
    facts.push(`#${entry.seq}`);
    for (const fact of facts) meta.append(el('span', 'fact', fact));
    bubble.append(meta);
    if (!entry.ok) bubble.append(el('p', 'failure', `Failed: ${entry.failure}`));
    const report = delivery(entry, recipient);
    if (report) bubble.append(report);
    pane.append(bubble);
  }
}

function row(cells, entry) {
  const tr = el('tr', entry.ok ? '' : 'failed');
  tr.dataset.seq = String(entry.seq);
  for (const cell of cells) {
    const td = el('td');
    if (typeof cell === 'string') td.textContent = cell;
    else td.append(cell);
    tr.append(td);
  }
  return tr;
}

function renderTable(id, kind, cellsOf, numberOf) {
  const body = $(id);
  body.replaceChildren();
  for (const entry of [...state.entries].reverse()) {
    if (kind && entry.kind !== kind) continue;
    if (!numberOf(entry).some(matches) && state.query !== '') continue;
    body.append(row(cellsOf(entry), entry));
  }
}

function numbersOf(entry) {
  if (entry.sms) return entry.sms.flatMap((s) => s.recipients);
  if (entry.contact) return [entry.contact.mobileNumber];
  if (entry.optOut) return [entry.optOut.mobileNumber];
  return [];
}

function render() {
  const count = (kind) => state.entries.filter((e) => e.kind === kind).length;
  $('count-sms').textContent = String(messages().length);
  $('count-import').textContent = String(count('import'));
  $('count-optout').textContent = String(count('optout'));
  $('count-all').textContent = String(state.entries.length);
  const failed = state.entries.filter((e) => !e.ok).length;
  $('count-failed').textContent = `${failed} failed`;
  $('count-failed').hidden = failed === 0;

  for (const tab of document.querySelectorAll('[role=tab]')) {
    const on = tab.dataset.tab === state.tab;
    tab.setAttribute('aria-selected', String(on));
    $(`panel-${tab.dataset.tab}`).hidden = !on;
  }
  $('empty').hidden = state.entries.length > 0;

  renderThreads();
  renderTable(
    'imports',
    'import',
    (e) => [
      `#${e.seq}`,
      timeOf(e.at),
      e.contact.group,
      e.contact.mobileNumber,
      e.contact.name,
      result(e),
    ],
    numbersOf,
  );
  renderTable(
    'optouts',
    'optout',
    (e) => [`#${e.seq}`, timeOf(e.at), e.optOut.mobileNumber, e.optOut.reason, result(e)],
    numbersOf,
  );
  renderTable(
    'calls',
    undefined,
    (e) => [
      `#${e.seq}`,
      timeOf(e.at),
      `${e.method} ${e.path}`,
      numbersOf(e).join(', '),
      e.httpStatus === 0 ? '—' : String(e.httpStatus),
      result(e),
    ],
    numbersOf,
  );
}

function connect() {
  const live = $('live');
  const source = new EventSource('/__inbox/events');
  source.addEventListener('open', () => {
    live.dataset.state = 'live';
    live.textContent = 'live';
  });
  source.addEventListener('error', () => {
    live.dataset.state = 'offline';
    live.textContent = 'reconnecting…';
  });
  source.addEventListener('snapshot', (e) => {
    state.entries = JSON.parse(e.data).entries;
    render();
  });
  source.addEventListener('entry', (e) => {
    state.entries.push(JSON.parse(e.data));
    render();
  });
  source.addEventListener('update', (e) => {
    const entry = JSON.parse(e.data);
    state.entries = state.entries.map((old) => (old.seq === entry.seq ? entry : old));
    render();
  });
  source.addEventListener('cleared', () => {
    state.entries = [];
    render();
  });
}

window.addEventListener('DOMContentLoaded', () => {
  for (const tab of document.querySelectorAll('[role=tab]')) {
    tab.addEventListener('click', () => {
      state.tab = tab.dataset.tab;
      render();
    });
  }
  $('search').addEventListener('input', (e) => {
    state.query = e.target.value;
    render();
  });
  $('clear').addEventListener('click', async () => {
    const res = await fetch('/__admin/calls', { method: 'DELETE' });
    if (!res.ok) window.alert(`Clearing failed: HTTP ${res.status}`);
  });
  render();
  connect();
});
