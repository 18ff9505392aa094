/**
 * The status page (`GET /api/status/page`): static HTML with inline styles and a small script
 * that polls `GET /api/status?recentOptOuts=10` every 2 seconds and draws the limiter's window,
 * the send queue's line (how many sends wait, until when sends are lined up, when the last is
 * expected to go), merged calls (on or off; in the last window, how many calls carried how many
 * queued sends, recipients per call and the calls saved), the queues and the recent opt-outs;
 * and, from `GET /api/status?history=60` every 30 seconds (every 2 after a failed read), the last
 * hour as inline SVG charts (calls per minute by class; 429s, deferrals and parked messages;
 * queue and poison depths), drawn by the same script with DOM calls, no chart library.
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
/** How many minutes of history the page charts, and how often it asks for them again. */
export const STATUS_PAGE_HISTORY_MINUTES = 60;
export const STATUS_HISTORY_POLL_MS = 30_000;

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
#history { grid-column:1/-1; }
.charts { display:grid; gap:12px 24px; grid-template-columns:repeat(auto-fit,minmax(300px,1fr)); }
figure { margin:0; }
figcaption { font-weight:500; margin:0 0 4px; }
figcaption .muted { font-weight:400; }
.chart svg { display:block; width:100%; height:auto; }
.chart .axis { fill:var(--muted); font-size:10px; }
.chart .grid { stroke:var(--line); stroke-width:1; }
.s-interactive { fill:var(--interactive); } .s-background { fill:var(--background); }
.s-rateLimited { fill:var(--bad); } .s-deferred { fill:var(--reserved); } .s-poisoned { fill:#475467; }
.i-rateLimited { background:var(--bad); } .i-deferred { background:var(--reserved); } .i-poisoned { background:#475467; }
.q0 { stroke:#2563eb; fill:#2563eb; } .q1 { stroke:#7c3aed; fill:#7c3aed; } .q2 { stroke:#0e9384; fill:#0e9384; }
.q3 { stroke:#dc6803; fill:#dc6803; } .q4 { stroke:#c11574; fill:#c11574; } .q5 { stroke:#475467; fill:#475467; }
.i-q0 { background:#2563eb; } .i-q1 { background:#7c3aed; } .i-q2 { background:#0e9384; }
.i-q3 { background:#dc6803; } .i-q4 { background:#c11574; } .i-q5 { background:#475467; }
.chart .line { fill:none; stroke-width:1.5; } .chart .line.poison { stroke-dasharray:4 3; } .chart .dot { stroke:none; }
`;

const SCRIPT = String.raw`
'use strict';
(function () {
  var POLL_MS = ${STATUS_POLL_MS};
  var page = new URL(window.location.href);
  var key = page.searchParams.get('code');
  var source = new URL('../status', page);
  source.searchParams.set('recentOptOuts', '${STATUS_PAGE_OPT_OUTS}');
  var HISTORY_POLL_MS = ${STATUS_HISTORY_POLL_MS};
  var historySource = new URL('../status', page);
  historySource.searchParams.set('history', '${STATUS_PAGE_HISTORY_MINUTES}');
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

  // ---- The last hour: inline SVG, every value set as an attribute or as text. ----
  var SVG_NS = 'http://www.w3.org/2000/svg';
  var CHART = { width: 600, height: 150, left: 36, right: 6, top: 10, bottom: 18 };

  function svg(tag, attrs, className) {
    var node = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, String(attrs[name])); });
    if (className) node.setAttribute('class', className);
    return node;
  }
  function svgText(x, y, value, anchor) {
    var node = svg('text', { x: x, y: y, 'text-anchor': anchor || 'start' }, 'axis');
    node.textContent = String(value);
    return node;
  }
  function titled(node, value) {
    var title = svg('title');
    title.textContent = value;
    node.append(title);
    return node;
  }
  /** The axis' top: the max rounded up to 1, 2 or 5 times a power of ten (at least 1). */
  function axisTop(max) {
    if (!(max > 1)) return 1;
    var power = Math.pow(10, Math.floor(Math.log(max) / Math.LN10));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * power >= max) return steps[i] * power;
    return 10 * power;
  }
  function clock(at) {
    var ms = parseTime(at);
    return ms === null ? '' : new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  /** An empty chart for the minutes, scaled 0..top: the axes, and where each minute goes. */
  function frame(plotId, minutes, top) {
    var plot = $(plotId);
    plot.replaceChildren();
    var root = svg('svg', { viewBox: '0 0 ' + CHART.width + ' ' + CHART.height, role: 'img' });
    var inner = CHART.width - CHART.left - CHART.right;
    var bottom = CHART.height - CHART.bottom;
    var slot = inner / Math.max(minutes.length, 1);
    root.append(svg('line', { x1: CHART.left, y1: bottom, x2: CHART.width - CHART.right, y2: bottom }, 'grid'),
      svg('line', { x1: CHART.left, y1: CHART.top, x2: CHART.width - CHART.right, y2: CHART.top }, 'grid'),
      svgText(CHART.left - 4, CHART.top + 4, count(top), 'end'), svgText(CHART.left - 4, bottom, '0', 'end'));
    if (minutes.length > 0) {
      root.append(svgText(CHART.left, CHART.height - 4, clock(minutes[0].at)),
        svgText(CHART.width - CHART.right, CHART.height - 4, clock(minutes[minutes.length - 1].at), 'end'));
    }
    plot.append(root);
    return {
      root: root,
      slot: slot,
      x: function (i) { return CHART.left + i * slot; },
      y: function (value) { return bottom - ((bottom - CHART.top) * value) / top; },
      bottom: bottom,
    };
  }

  /** Bars per minute: stacked one on another, else side by side. The largest figure shown. */
  function barChart(plotId, maxId, minutes, series, stacked) {
    var max = 0;
    minutes.forEach(function (m) {
      var values = series.map(function (s) { return num(s.value(m)); });
      var most = stacked ? values.reduce(function (a, b) { return a + b; }, 0) : Math.max.apply(null, values);
      max = Math.max(max, most);
    });
    var chart = frame(plotId, minutes, axisTop(max));
    var gap = chart.slot > 4 ? 1 : 0;
    minutes.forEach(function (m, i) {
      var base = 0;
      series.forEach(function (s, j) {
        var value = num(s.value(m));
        if (value <= 0) return;
        var width = stacked ? chart.slot - gap : (chart.slot - gap) / series.length;
        var x = chart.x(i) + (stacked ? 0 : j * width);
        var top = chart.y(base + value);
        var bar = svg('rect', { x: x.toFixed(1), y: top.toFixed(1), width: Math.max(width, 0.5).toFixed(1),
          height: Math.max(chart.y(base) - top, 0.5).toFixed(1) }, 'tally s-' + s.key);
        bar.setAttribute('data-minute', String(m.at));
        bar.setAttribute('data-value', String(value));
        chart.root.append(titled(bar, clock(m.at) + ': ' + count(value) + ' ' + s.label));
        if (stacked) base += value;
      });
    });
    text(maxId, max === 0 ? 'none' : 'max ' + count(max) + ' a minute');
  }

  /** A line per queue and, dashed, its poison queue's; a minute without a sample is a gap. */
  function queueChart(minutes) {
    var names = [];
    minutes.forEach(function (m) {
      Object.keys(m.queues && typeof m.queues === 'object' ? m.queues : {}).forEach(function (name) {
        if (names.indexOf(name) === -1) names.push(name);
      });
    });
    var depth = function (m, name, key) {
      var q = m.queues && m.queues[name];
      var value = q ? q[key] : null;
      return typeof value === 'number' && isFinite(value) ? value : null;
    };
    var max = 0;
    minutes.forEach(function (m) {
      names.forEach(function (name) {
        max = Math.max(max, num(depth(m, name, 'depth')), num(depth(m, name, 'poison')));
      });
    });
    var chart = frame('chart-queues-plot', minutes, axisTop(max));
    var legend = $('chart-queues-legend');
    legend.replaceChildren();
    names.forEach(function (name, j) {
      var colour = 'q' + (j % 6);
      ['depth', 'poison'].forEach(function (key) {
        var runs = [[]];
        minutes.forEach(function (m, i) {
          var value = depth(m, name, key);
          if (value === null) { if (runs[runs.length - 1].length > 0) runs.push([]); return; }
          runs[runs.length - 1].push((chart.x(i) + chart.slot / 2).toFixed(1) + ',' + chart.y(value).toFixed(1));
        });
        runs.forEach(function (run) {
          if (run.length === 0) return;
          var label = key === 'poison' ? name + ' (poison queue)' : name;
          var shape = run.length === 1
            ? svg('circle', { cx: run[0].split(',')[0], cy: run[0].split(',')[1], r: 2 }, 'dot ' + colour)
            : svg('polyline', { points: run.join(' ') }, 'line ' + colour + (key === 'poison' ? ' poison' : ''));
          shape.setAttribute('data-queue', String(name));
          shape.setAttribute('data-series', key);
          shape.setAttribute('data-points', String(run.length));
          chart.root.append(titled(shape, label));
        });
      });
      var item = el('li');
      item.append(el('i', 'i-' + colour), el('span', '', name));
      legend.append(item);
    });
    text('chart-queues-max', max === 0 ? 'all empty' : 'max ' + count(max) + ' messages');
  }

  function showHistory(history) {
    var minutes = history && Array.isArray(history.minutes) ? history.minutes : null;
    if (!minutes) {
      text('history-summary', 'not reported by this version of /api/status');
      ['chart-calls-plot', 'chart-waits-plot', 'chart-queues-plot', 'chart-queues-legend'].forEach(function (id) {
        $(id).replaceChildren();
      });
      ['chart-calls-max', 'chart-waits-max', 'chart-queues-max'].forEach(function (id) { text(id, ''); });
      return;
    }
    var total = function (pick) { return minutes.reduce(function (sum, m) { return sum + num(pick(m)); }, 0); };
    var interactive = total(function (m) { return m.calls && m.calls.interactive; });
    var background = total(function (m) { return m.calls && m.calls.background; });
    text('history-summary', 'In the last ' + plural(minutes.length, 'minute', 'minutes') + ': ' +
      plural(interactive + background, 'Sendmode call', 'Sendmode calls') + ' (' + count(interactive) +
      ' interactive, ' + count(background) + ' background), ' +
      plural(total(function (m) { return m.rateLimited; }), 'call', 'calls') + ' answered 429, ' +
      plural(total(function (m) { return m.deferred; }), 'message', 'messages') + ' deferred for the limit, ' +
      count(total(function (m) { return m.poisoned; })) + ' parked in a poison queue.');
    barChart('chart-calls-plot', 'chart-calls-max', minutes, [
      { key: 'interactive', label: 'interactive', value: function (m) { return m.calls && m.calls.interactive; } },
      { key: 'background', label: 'background', value: function (m) { return m.calls && m.calls.background; } },
    ], true);
    barChart('chart-waits-plot', 'chart-waits-max', minutes, [
      { key: 'rateLimited', label: 'answered 429', value: function (m) { return m.rateLimited; } },
      { key: 'deferred', label: 'deferred', value: function (m) { return m.deferred; } },
      { key: 'poisoned', label: 'parked', value: function (m) { return m.poisoned; } },
    ], false);
    queueChart(minutes);
  }

  /** GETs a JSON answer with the page's key; a failure becomes an Error naming the status and detail. */
  function getJson(url) {
    var headers = { accept: 'application/json' };
    if (key) headers['x-functions-key'] = key;
    return fetch(url, { headers: headers, cache: 'no-store' })
      .then(function (res) {
        return res.json().then(function (body) { return { res: res, body: body }; },
          function () { return { res: res, body: {} }; });
      })
      .then(function (answer) {
        if (!answer.res.ok) {
          var detail = answer.body.detail || answer.body.title || '';
          throw new Error('HTTP ' + answer.res.status + (detail ? ': ' + detail : ''));
        }
        return answer.body;
      });
  }

  function pollHistory() {
    var next = HISTORY_POLL_MS;
    getJson(historySource)
      .then(function (body) {
        showHistory(body.history);
      })
      .catch(function (error) {
        text('history-summary', 'The history could not be read: ' + error.message);
        // A passing storage time-out should not leave the charts empty for half a minute.
        next = POLL_MS;
      })
      .finally(function () { setTimeout(pollHistory, next); });
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
    getJson(source)
      .then(function (body) {
        var status = body;
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
  pollHistory();
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
  <section id="history">
    <h2>The last hour <span class="muted">per minute, every instance together</span></h2>
    <p class="muted" id="history-summary">…</p>
    <div class="charts">
      <figure id="chart-calls">
        <figcaption>Sendmode calls <span class="muted" id="chart-calls-max"></span></figcaption>
        <div class="chart" id="chart-calls-plot"></div>
        <ul class="legend">
          <li><i class="i-interactive"></i>interactive</li>
          <li><i class="i-background"></i>background</li>
        </ul>
      </figure>
      <figure id="chart-waits">
        <figcaption>Held back by the limit <span class="muted" id="chart-waits-max"></span></figcaption>
        <div class="chart" id="chart-waits-plot"></div>
        <ul class="legend">
          <li><i class="i-rateLimited"></i>answered 429</li>
          <li><i class="i-deferred"></i>deferred</li>
          <li><i class="i-poisoned"></i>parked in a poison queue</li>
        </ul>
      </figure>
      <figure id="chart-queues">
        <figcaption>Queue depths <span class="muted" id="chart-queues-max"></span></figcaption>
        <div class="chart" id="chart-queues-plot"></div>
        <ul class="legend" id="chart-queues-legend"></ul>
        <p class="muted">Dashed: the queue's poison queue. A gap: no instance sampled it that minute.</p>
      </figure>
    </div>
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
