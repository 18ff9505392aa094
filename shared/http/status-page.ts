/**
 * The status page (`GET /api/status/page`): static HTML with inline styles and a small script
 * that polls `GET /api/status?recentOptOuts=10` every 2 seconds and draws the limiter's window,
 * the send queue's line (how many sends wait, until when sends are lined up, when the last is
 * expected to go), merged calls (on or off; in the last window, how many calls carried how many
 * queued sends, recipients per call and the calls saved), the queues and the recent opt-outs.
 * It is a TypeScript string so that whatever builds the app (tsc or a bundler) ships it;
 * nothing is loaded from another origin.
 *
 * A function key given to the page as `?code=` is passed on to the JSON route as
 * `x-functions-key`, so the page works where keys are enforced. The script sets every value as
 * text, never as HTML, and the Content-Security-Policy allows only this script and style.
 */
import { createHash } from 'node:crypto';

/** How often the page asks for fresh figures. */
export const STATUS_POLL_MS = 2000;
/** How many recent opt-outs the page asks for. */
export const STATUS_PAGE_OPT_OUTS = 10;

const STYLE = String.raw`
:root { --ink:#1d2330; --muted:#667085; --line:#e2e5ea; --bg:#f4f5f7; --panel:#fff;
  --interactive:#2563eb; --background:#7c3aed; --reserved:#f59e0b; --free:#d0d5dd;
  --ok:#15803d; --bad:#b42318; font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;
  color:var(--ink); background:var(--bg); }
* { box-sizing:border-box; }
body { margin:0; }
header { display:flex; gap:12px; align-items:center; padding:10px 16px; background:var(--ink); color:#fff; }
h1 { font-size:16px; margin:0 auto 0 0; }
h2 { font-size:15px; margin:0 0 10px; }
.live { font-size:12px; padding:2px 8px; border-radius:999px; background:#475467; }
.live[data-state=live] { background:var(--ok); }
.live[data-state=error] { background:var(--bad); }
main { display:grid; gap:16px; padding:16px; grid-template-columns:repeat(auto-fit,minmax(340px,1fr)); }
section { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:14px 16px; }
#limit { grid-column:1/-1; }
.headline { font-size:22px; font-weight:600; margin:0 0 8px; }
.bar { display:flex; height:26px; border-radius:6px; overflow:hidden; background:var(--free); }
.bar span { display:block; height:100%; transition:width .3s; }
#bar-interactive { background:var(--interactive); }
#bar-background { background:var(--background); }
#bar-reserved { background:repeating-linear-gradient(45deg,var(--reserved) 0 6px,#fbbf24 6px 12px); }
.legend { display:flex; flex-wrap:wrap; gap:4px 18px; margin:10px 0 0; padding:0; list-style:none; color:var(--muted); }
.legend i { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:6px; }
.i-interactive { background:var(--interactive); } .i-background { background:var(--background); }
.i-reserved { background:var(--reserved); } .i-free { background:var(--free); }
.legend b { color:var(--ink); }
.next { margin:10px 0 0; }
table { width:100%; border-collapse:collapse; }
th, td { padding:6px 8px; border-bottom:1px solid var(--line); text-align:left; }
th { color:var(--muted); font-weight:500; }
td.n { text-align:right; font-variant-numeric:tabular-nums; }
.poisoned { color:var(--bad); font-weight:600; }
.on { color:var(--ok); font-weight:600; }
.facts { margin:0; padding:0; list-style:none; }
.facts li { padding:4px 0; }
ul.optouts { list-style:none; margin:0; padding:0; }
ul.optouts li { display:flex; gap:10px; padding:5px 0; border-bottom:1px solid var(--line); }
ul.optouts time { margin-left:auto; color:var(--muted); }
.muted { color:var(--muted); }
.warning { margin:0 0 8px; padding:8px 10px; border-radius:6px; background:#fef3f2; color:var(--bad); }
#problem { grid-column:1/-1; border-color:#fda29b; background:#fef3f2; color:var(--bad); }
`;

const SCRIPT = String.raw`
'use strict';
(function () {
  var POLL_MS = ${STATUS_POLL_MS};
  var page = new URL(window.location.href);
  var key = page.searchParams.get('code');
  var source = new URL('../status', page);
  source.searchParams.set('recentOptOuts', '${STATUS_PAGE_OPT_OUTS}');
  var nextSlotAt = null;
  var lastSendAt = null;
  var sendsWaiting = 0;

  function $(id) { return document.getElementById(id); }
  function text(id, value) { $(id).textContent = value; }
  function num(value) { return typeof value === 'number' && isFinite(value) ? value : 0; }
  function el(tag, className, value) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (value !== undefined) node.textContent = String(value);
    return node;
  }

  function showLimit(limit) {
    var max = Math.max(num(limit.maxCalls), 1);
    var admitted = limit.admitted || {};
    var interactive = num(admitted.interactive);
    var background = num(admitted.background);
    var total = admitted.total === undefined ? interactive + background : num(admitted.total);
    var reserved = num(limit.reservedAhead);
    var free = Math.max(max - total - reserved, 0);
    text('used', total + ' of ' + num(limit.maxCalls) + ' calls used in the last ' + num(limit.windowSeconds) + ' s');
    [['interactive', interactive], ['background', background], ['reserved', reserved]].forEach(function (part) {
      $('bar-' + part[0]).style.width = Math.min(100, (100 * part[1]) / max) + '%';
      text('n-' + part[0], part[1]);
    });
    text('n-free', free);
    var frees = limit.free || {};
    text('free-detail', 'free for interactive work ' + num(frees.interactive) + ', for background work ' +
      num(frees.background) + ' (' + num(limit.interactiveReserve) + ' kept for interactive work)');
    $('limit-bar').setAttribute('aria-label', total + ' used, ' + reserved + ' reserved, ' + free + ' free of ' + max);
    nextSlotAt = typeof limit.nextSlotFreesAt === 'string' ? Date.parse(limit.nextSlotFreesAt) : null;
    var linedUp = typeof limit.backgroundLinedUpUntil === 'string' ? Date.parse(limit.backgroundLinedUpUntil) : NaN;
    text('lined-up', isNaN(linedUp) ? '' : 'Background work is lined up until ' + new Date(linedUp).toLocaleTimeString() + '.');
    showNextSlot();
  }

  function showNextSlot() {
    if (nextSlotAt === null || isNaN(nextSlotAt)) {
      text('next-slot', 'nothing to wait for: no call is in the window');
      return;
    }
    var seconds = Math.max(0, (nextSlotAt - Date.now()) / 1000);
    text('next-slot', 'in ' + seconds.toFixed(1) + ' s (at ' + new Date(nextSlotAt).toLocaleTimeString() + ')');
  }

  /** A wait, readable at a glance: 8.5 s, 4 min 05 s, 2 h 07 min. */
  function duration(ms) {
    var seconds = Math.max(0, ms / 1000);
    if (seconds < 60) return seconds.toFixed(1) + ' s';
    var whole = Math.round(seconds);
    var pad = function (n) { return (n < 10 ? '0' : '') + n; };
    if (whole < 3600) return Math.floor(whole / 60) + ' min ' + pad(whole % 60) + ' s';
    return Math.floor(whole / 3600) + ' h ' + pad(Math.floor((whole % 3600) / 60)) + ' min';
  }

  function parseTime(value) {
    var at = typeof value === 'string' ? Date.parse(value) : NaN;
    return isNaN(at) ? null : at;
  }

  function showOutbox(outbox, limit, queues) {
    if (!outbox || typeof outbox !== 'object') {
      lastSendAt = null;
      text('outbox-waiting', 'not reported by this version of /api/status');
      ['outbox-last', 'outbox-lined-up', 'outbox-poison'].forEach(function (id) { text(id, ''); });
      $('outbox-poison').className = 'muted';
      return;
    }
    var waiting = num(outbox.waiting);
    var queue = String(outbox.queue || 'the send queue');
    text('outbox-queue', queue);
    text('outbox-waiting', waiting === 0 ? 'No sends waiting' : waiting === 1 ? '1 send waiting' : waiting + ' sends waiting');
    sendsWaiting = waiting;
    lastSendAt = parseTime(outbox.lastExpectedAt);
    var linedUp = parseTime(limit.sendsLinedUpUntil);
    text('outbox-lined-up', linedUp === null ? 'No sends are lined up for the limit.'
      : 'Sends are lined up for the limit until ' + new Date(linedUp).toLocaleTimeString() + '.');
    var own = (Array.isArray(queues) ? queues : []).filter(function (q) { return q && q.name === outbox.queue; })[0];
    var poison = (own && own.poison) || {};
    var parked = num(poison.approximateMessages);
    text('outbox-poison', parked === 0 ? 'None parked in ' + (poison.name || queue + '-poison') + '.'
      : parked + (parked === 1 ? ' send' : ' sends') + ' parked in ' + (poison.name || queue + '-poison') + ' (npm run poison -- list ' + queue + ').');
    $('outbox-poison').className = parked > 0 ? 'poisoned' : 'muted';
    showLastSend();
  }

  function showLastSend() {
    var who = sendsWaiting > 0 ? 'The last of them is' : 'A send queued now would be';
    if (lastSendAt === null) {
      text('outbox-last', '');
      return;
    }
    var wait = lastSendAt - Date.now();
    text('outbox-last', who + ' expected to go ' + (wait < 500 ? 'now' : 'in ' + duration(wait) +
      ' (at ' + new Date(lastSendAt).toLocaleTimeString() + ')') + '.');
  }

  /** A count as the page writes it: 2,000; 666.7 (one decimal below 100); 667. */
  function count(value) {
    var n = num(value);
    return n.toLocaleString('en', { maximumFractionDigits: Math.abs(n) >= 100 ? 0 : 1 });
  }
  function plural(n, one, many) { return count(n) + ' ' + (n === 1 ? one : many); }

  function showMerging(merging, limit) {
    if (!merging || typeof merging !== 'object') {
      text('merging-state', '');
      text('merging-headline', 'not reported by this version of /api/status');
      ['merging-summary', 'merging-settings'].forEach(function (id) { text(id, ''); });
      return;
    }
    text('merging-state', merging.enabled ? 'on' : 'off');
    $('merging-state').className = merging.enabled ? 'on' : 'muted';
    if (!merging.enabled) {
      text('merging-headline', 'Merging is off');
      text('merging-summary', 'Each queued send makes its own Sendmode call (SEND_MERGE=off).');
      text('merging-settings', '');
      return;
    }
    var last = merging.lastWindow || {};
    var calls = num(last.calls);
    var sends = num(last.sends);
    var saved = num(last.callsSaved);
    var inWindow = ' in the last ' + num(limit.windowSeconds) + ' s';
    text('merging-headline', saved === 0 ? 'No calls saved' : plural(saved, 'call', 'calls') + ' saved');
    text('merging-summary', calls === 0 ? 'No queued send was sent' + inWindow + '.'
      : plural(calls, 'call', 'calls') + ' carried ' + plural(sends, 'send', 'sends') +
        (typeof last.recipientsPerCall === 'number' ? ' (' + count(last.recipientsPerCall) +
          (last.recipientsPerCall === 1 ? ' recipient per call)' : ' recipients per call)') : '') +
        ', ' + plural(saved, 'call', 'calls') + ' saved' + inWindow + '.');
    var waitMs = num(merging.windowMs);
    var max = num(merging.maxRecipientsPerCall);
    text('merging-settings', 'Up to ' + count(max) + (max === 1 ? ' recipient per call' : ' recipients per call') +
      '; ' + (waitMs === 0 ? 'a send never waits for company.'
        : 'a send of a busy text waits up to ' + duration(waitMs) + ' for company.'));
  }

  function showDelivery(reports) {
    var warning = $('delivery-warning');
    if (!reports || typeof reports !== 'object') {
      text('delivery-state', '');
      text('delivery-headline', 'not reported by this version of /api/status');
      ['delivery-summary', 'delivery-unmatched'].forEach(function (id) { text(id, ''); });
      warning.hidden = true;
      return;
    }
    text('delivery-state', reports.expected ? 'expected' : 'not expected');
    $('delivery-state').className = reports.expected ? 'on' : 'muted';
    var watched = num(reports.watched);
    text('delivery-headline', watched === 0 ? 'No send old enough to be reported yet'
      : count(num(reports.delivered)) + ' of ' + plural(watched, 'send', 'sends') + ' delivered');
    text('delivery-summary', watched === 0 ? (reports.expected ? '' : 'DELIVERY_REPORTS is off: set it on once Sendmode posts reports to /api/delivery-reports.')
      : plural(num(reports.reported), 'send', 'sends') + ' with any report, of the latest ' + count(watched) + ' old enough to have one.');
    text('delivery-unmatched', plural(num(reports.unmatched), 'report', 'reports') + ' matched no send.');
    var message = reports.warning && reports.warning.message;
    warning.hidden = !message;
    text('delivery-warning', message || '');
  }

  function showQueues(queues) {
    var body = $('queues');
    body.replaceChildren();
    (Array.isArray(queues) ? queues : []).forEach(function (queue) {
      var poison = queue.poison || {};
      var row = el('tr');
      row.dataset.queue = String(queue.name);
      row.append(el('td', '', queue.name), el('td', 'n', num(queue.approximateMessages)),
        el('td', '', poison.name || '—'),
        el('td', num(poison.approximateMessages) > 0 ? 'n poisoned' : 'n', num(poison.approximateMessages)));
      body.append(row);
    });
    if (!body.firstChild) {
      var none = el('tr');
      none.append(el('td', 'muted', 'no queues reported'));
      body.append(none);
    }
  }

  function showOptOuts(list) {
    var ul = $('optouts');
    ul.replaceChildren();
    if (!Array.isArray(list)) {
      ul.append(el('li', 'muted', 'not reported by this version of /api/status'));
      return;
    }
    if (list.length === 0) ul.append(el('li', 'muted', 'none yet'));
    list.forEach(function (item) {
      var li = el('li');
      li.append(el('strong', '', item.number));
      if (item.source) li.append(el('span', 'muted', item.source));
      li.append(el('time', '', item.at ? new Date(item.at).toLocaleString() : ''));
      ul.append(li);
    });
  }

  function setState(state, label) {
    var live = $('live');
    live.dataset.state = state;
    live.textContent = label;
  }

  function showProblem(message) {
    $('problem').hidden = message === null;
    if (message !== null) text('problem-detail', message);
  }

  function poll() {
    var headers = { accept: 'application/json' };
    if (key) headers['x-functions-key'] = key;
    fetch(source, { headers: headers, cache: 'no-store' })
      .then(function (res) {
        return res.json().then(function (body) { return { res: res, body: body }; },
          function () { return { res: res, body: {} }; });
      })
      .then(function (answer) {
        if (!answer.res.ok) {
          var detail = answer.body.detail || answer.body.title || '';
          throw new Error('HTTP ' + answer.res.status + (detail ? ': ' + detail : ''));
        }
        var status = answer.body;
        showLimit(status.limit || {});
        showOutbox(status.outbox, status.limit || {}, status.queues);
        showMerging(status.merging, status.limit || {});
        showDelivery(status.deliveryReports);
        showQueues(status.queues);
        showOptOuts(status.recentOptOuts);
        text('updated', 'updated ' + new Date(status.at || Date.now()).toLocaleTimeString());
        showProblem(null);
        setState('live', 'live');
      })
      .catch(function (error) {
        showProblem('/api/status did not answer: ' + error.message);
        setState('error', 'not updating');
      })
      .finally(function () { setTimeout(poll, POLL_MS); });
  }

  setInterval(function () { showNextSlot(); showLastSend(); }, 200);
  poll();
})();
`;

const BODY = String.raw`
<header>
  <h1>Sendmode connector · status</h1>
  <span id="updated" class="muted"></span>
  <span id="live" class="live" data-state="connecting">connecting…</span>
</header>
<main>
  <section id="problem" hidden><strong>Not up to date.</strong> <span id="problem-detail"></span></section>
  <section id="limit">
    <h2>Sendmode call limit</h2>
    <p class="headline" id="used">…</p>
    <div class="bar" id="limit-bar" role="img" aria-label="">
      <span id="bar-interactive"></span><span id="bar-background"></span><span id="bar-reserved"></span>
    </div>
    <ul class="legend">
      <li><i class="i-interactive"></i>interactive <b id="n-interactive">0</b></li>
      <li><i class="i-background"></i>background <b id="n-background">0</b></li>
      <li><i class="i-reserved"></i>reserved ahead <b id="n-reserved">0</b></li>
      <li><i class="i-free"></i>free <b id="n-free">0</b></li>
    </ul>
    <p class="muted" id="free-detail"></p>
    <p class="next">Next slot frees <strong id="next-slot">…</strong></p>
    <p class="muted" id="lined-up"></p>
  </section>
  <section id="outbox">
    <h2>Send queue <span class="muted" id="outbox-queue"></span></h2>
    <p class="headline" id="outbox-waiting">…</p>
    <ul class="facts">
      <li id="outbox-last"></li>
      <li class="muted" id="outbox-lined-up"></li>
      <li class="muted" id="outbox-poison"></li>
    </ul>
  </section>
  <section id="merging">
    <h2>Merged calls <span class="muted" id="merging-state"></span></h2>
    <p class="headline" id="merging-headline">…</p>
    <ul class="facts">
      <li id="merging-summary"></li>
      <li class="muted" id="merging-settings"></li>
    </ul>
  </section>
  <section id="delivery">
    <h2>Delivery reports <span class="muted" id="delivery-state"></span></h2>
    <p class="headline" id="delivery-headline">…</p>
    <p class="warning" id="delivery-warning" role="alert" hidden></p>
    <ul class="facts">
      <li id="delivery-summary"></li>
      <li class="muted" id="delivery-unmatched"></li>
    </ul>
  </section>
  <section>
    <h2>Queues</h2>
    <table>
      <thead><tr><th>queue</th><th>messages</th><th>poison queue</th><th>messages</th></tr></thead>
      <tbody id="queues"></tbody>
    </table>
  </section>
  <section>
    <h2>Recent opt-outs</h2>
    <ul class="optouts" id="optouts"></ul>
  </section>
</main>
`;

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Status · Sendmode connector</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>${BODY}<script>${SCRIPT}</script>
</body>
</html>
`;

/** The headers the page is served with: only its own script and style run. */
export const STATUS_PAGE_HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': [
    "default-src 'none'",
    `script-src ${sha256(SCRIPT)}`,
    `style-src ${sha256(STYLE)}`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
};
