/**
 * The status page: one HTML document with its CSS and JS inline (no build step, no CDN, works
 * offline). The script polls `/status.json` and draws, per stream, the shard lineage as an SVG
 * graph (parent → child, left to right), each shard coloured by state, plus the workers and the
 * latest operator actions; records/s per worker and the recent events come from the server's
 * repeated reads (observer.ts). The states are `ShardStatus['state']`'s. Everything from the lease table is put in the page as text
 * (textContent / SVG text nodes), never as markup.
 *
 * The client code below avoids template literals so that this TypeScript template only
 * interpolates `refreshMs`.
 */
export function statusPageHtml(options: { refreshMs: number }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>shardline status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1f2328; background: #fff; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; }
  h2 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
  .meta { color: #59636e; }
  .error { color: #b42318; font-weight: 600; }
  table { border-collapse: collapse; }
  th, td { text-align: left; padding: .2rem .8rem .2rem 0; border-bottom: 1px solid #e5e7eb; }
  th { font-weight: 600; color: #59636e; }
  .legend span { display: inline-block; margin-right: 1rem; }
  .legend i { display: inline-block; width: .9rem; height: .9rem; border-radius: 3px; vertical-align: -2px; margin-right: .3rem; }
  svg text { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; fill: #1f2328; }
  svg text.title { font-weight: 700; }
  .stream { margin-bottom: 1rem; overflow-x: auto; }
</style>
</head>
<body>
<h1>shardline status <span id="table" class="meta"></span></h1>
<div class="meta"><span id="shard-count">loading…</span> · leader <span id="leader">?</span> · read <span id="read-at">never</span> · refreshed every ${options.refreshMs / 1000} s</div>
<div id="error" class="error" role="alert"></div>
<h2>Shard lineage</h2>
<div class="legend" id="legend"></div>
<div id="streams"></div>
<p class="meta">BEHIND: records after the checkpoint, counted (exact). AGE: since the oldest of them was written (approximate: whole seconds on AWS, whole minutes on DynamoDB Local).</p>
<h2>Workers</h2>
<table id="workers"><thead><tr><th>worker</th><th>leases held</th><th>records/s</th><th>heartbeat age</th><th>role</th><th>last seen (its clock)</th></tr></thead><tbody></tbody></table>
<p class="meta">Heartbeat age: since this page's server last saw the worker's heartbeat counter move ("?" until it has moved once). Records/s: the move of the count each heartbeat publishes, over the last 10 s.</p>
<h2>Recent events</h2>
<ul id="events"></ul>
<p class="meta">Seen as changes between two reads of the lease table (leases taken or moved, hand-offs, shards finished, workers joining or leaving) or, on a worker's own page, reported by the worker (trimmed data, failed records, a stopped shard, the fence).</p>
<h2>Operator actions</h2>
<ul id="audits"></ul>
<script>
(function () {
  var REFRESH_MS = ${options.refreshMs};
  var SVGNS = 'http://www.w3.org/2000/svg';
  var STATES = {
    'waiting-on-parents': '#f5d90a',
    'processing': '#3fb950',
    'handing-off': '#a371f7',
    'finished': '#8c959f',
    'unassigned': '#f0883e'
  };
  var NODE_W = 250, NODE_H = 78, GAP_X = 60, GAP_Y = 16;

  function el(tag, attrs, text) {
    var e = tag.indexOf('svg:') === 0 ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function short(id, n) { return id.length > n ? '…' + id.slice(id.length - n + 1) : id; }
  function age(ms) {
    if (ms === null || ms === undefined) return '?';
    if (ms < 1000) return ms + ' ms';
    if (ms < 120000) return (ms / 1000).toFixed(1) + ' s';
    return Math.round(ms / 60000) + ' min';
  }
  function behind(s) {
    if (s.behindRecords === null) return s.lagNote || '?';
    return s.behindRecords + (s.behindCapped ? '+' : '') + (s.behindRecords === 0 ? '' : ' (~' + age(s.lagMs) + ')');
  }

  var legend = document.getElementById('legend');
  Object.keys(STATES).forEach(function (state) {
    var span = el('span');
    span.appendChild(el('i', { style: 'background:' + STATES[state] }));
    span.appendChild(document.createTextNode(state));
    legend.appendChild(span);
  });

  /** Column = depth in the lineage (a shard with no known parent is 0), row = order within it. */
  function layout(shards) {
    var byId = {};
    shards.forEach(function (s) { byId[s.shardId] = s; });
    var depth = {};
    function depthOf(s, guard) {
      if (depth[s.shardId] !== undefined) return depth[s.shardId];
      if (guard > shards.length) return 0;
      var d = 0;
      s.parentShardIds.forEach(function (p) { if (byId[p]) d = Math.max(d, depthOf(byId[p], guard + 1) + 1); });
      return (depth[s.shardId] = d);
    }
    var columns = [];
    shards.forEach(function (s) {
      var d = depthOf(s, 0);
      (columns[d] = columns[d] || []).push(s);
    });
    var pos = {};
    columns.forEach(function (col, c) {
      col.forEach(function (s, r) { pos[s.shardId] = { x: c * (NODE_W + GAP_X), y: r * (NODE_H + GAP_Y) }; });
    });
    var rows = Math.max.apply(null, columns.map(function (c) { return c.length; }));
    return { pos: pos, width: columns.length * (NODE_W + GAP_X) - GAP_X + 2, height: rows * (NODE_H + GAP_Y) - GAP_Y + 2 };
  }

  /**
   * A parent named by a lease but with no lease of its own: the leader deletes a finished parent's
   * lease once its children have started (status counts a missing parent as done), so it is drawn
   * as finished, dashed, to keep the edge.
   */
  function withRemovedParents(shards) {
    var known = {};
    shards.forEach(function (s) { known[s.shardId] = true; });
    var ghosts = [];
    shards.forEach(function (s) {
      s.parentShardIds.forEach(function (p) {
        if (known[p]) return;
        known[p] = true;
        ghosts.push({ shardId: p, parentShardIds: [], owner: null, state: 'finished', removed: true });
      });
    });
    return ghosts.concat(shards);
  }

  function drawStream(arn, leased) {
    var shards = withRemovedParents(leased);
    var box = el('div', { 'class': 'stream', 'data-stream': arn });
    box.appendChild(el('div', { 'class': 'meta' }, arn + ' · ' + leased.length + ' lease(s)' +
      (shards.length > leased.length ? ' · ' + (shards.length - leased.length) + ' finished parent(s) whose lease was removed (dashed)' : '')));
    var l = layout(shards);
    var svg = el('svg:svg', { width: l.width, height: l.height, viewBox: '-1 -1 ' + l.width + ' ' + l.height });
    svg.appendChild(el('svg:defs')).appendChild(
      (function () {
        var m = el('svg:marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: 'auto' });
        m.appendChild(el('svg:path', { d: 'M0,0 L10,5 L0,10 z', fill: '#59636e' }));
        return m;
      })()
    );
    shards.forEach(function (s) {
      s.parentShardIds.forEach(function (p) {
        var a = l.pos[p], b = l.pos[s.shardId];
        if (!a) return;
        var x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2, mx = (x1 + x2) / 2;
        svg.appendChild(el('svg:path', {
          'class': 'edge', 'data-parent': p, 'data-child': s.shardId,
          d: 'M' + x1 + ',' + y1 + ' C' + mx + ',' + y1 + ' ' + mx + ',' + y2 + ' ' + x2 + ',' + y2,
          fill: 'none', stroke: '#59636e', 'stroke-width': 1.5, 'marker-end': 'url(#arrow)'
        }));
      });
    });
    shards.forEach(function (s) {
      var p = l.pos[s.shardId];
      var g = el('svg:g', { 'class': 'shard', 'data-shard': s.shardId, 'data-state': s.state, transform: 'translate(' + p.x + ',' + p.y + ')' });
      if (s.removed) g.setAttribute('data-removed', 'true');
      g.appendChild(el('svg:title', {}, s.shardId + (s.parentShardIds.length ? ' (parent ' + s.parentShardIds.join(', ') + ')' : '')));
      var frame = { width: NODE_W, height: NODE_H, rx: 6, fill: '#fff', stroke: STATES[s.state] || '#59636e', 'stroke-width': 2 };
      if (s.removed) frame['stroke-dasharray'] = '6 4';
      g.appendChild(el('svg:rect', frame));
      g.appendChild(el('svg:rect', { width: 8, height: NODE_H, rx: 3, fill: STATES[s.state] || '#59636e' }));
      var lines = s.removed
        ? [[short(s.shardId, 30), 'title'], ['finished', ''], ['lease removed after its', ''], ['children started', '']]
        : [
          [short(s.shardId, 30), 'title'],
          [s.state + ' · ' + (s.owner || 'no owner'), ''],
          ['checkpoint ' + short(s.checkpoint, 19), ''],
          ['behind ' + behind(s), '']
        ];
      lines.forEach(function (line, i) {
        g.appendChild(el('svg:text', { x: 16, y: 18 + i * 17, 'class': line[1] }, line[0]));
      });
      svg.appendChild(g);
    });
    box.appendChild(svg);
    return box;
  }

  function render(data) {
    document.getElementById('table').textContent = data.leaseTable;
    document.getElementById('shard-count').textContent = data.shards.length + ' shard(s)';
    document.getElementById('leader').textContent = data.leader ? data.leader.workerId : 'none';
    document.getElementById('read-at').textContent = new Date(data.readAt).toLocaleTimeString();
    var streams = document.getElementById('streams');
    var groups = {};
    data.shards.forEach(function (s) { (groups[s.streamArn] = groups[s.streamArn] || []).push(s); });
    streams.replaceChildren.apply(streams, Object.keys(groups).sort().map(function (arn) { return drawStream(arn, groups[arn]); }));
    if (data.shards.length === 0) streams.replaceChildren(el('p', { 'class': 'meta' }, 'no leases yet'));
    var tbody = document.querySelector('#workers tbody');
    tbody.replaceChildren.apply(tbody, data.workers.map(function (w) {
      var tr = el('tr', { 'data-worker': w.workerId });
      var role = (data.leader && data.leader.workerId === w.workerId ? 'leader' : '') + (w.draining ? ' draining' : '');
      var rate = w.recordsPerSecond === null || w.recordsPerSecond === undefined ? '?' : String(w.recordsPerSecond);
      [w.workerId, String(w.leaseCount), rate, age(w.heartbeatAgeMs), role.trim() || '-', w.updatedAt || '?'].forEach(function (c) {
        tr.appendChild(el('td', {}, c));
      });
      return tr;
    }));
    var events = document.getElementById('events');
    var recent = (data.events || []).slice(-15).reverse();
    events.replaceChildren.apply(events, recent.map(function (e) {
      return el('li', { 'data-kind': e.kind }, new Date(e.at).toLocaleTimeString() + ' ' + e.kind + ': ' + e.text + ' (' + e.source + ')');
    }));
    if (recent.length === 0) events.replaceChildren(el('li', { 'class': 'meta' }, 'none yet (this page compares reads: events appear from the second read on)'));
    var audits = document.getElementById('audits');
    var shown = data.audits.slice(-10).reverse();
    audits.replaceChildren.apply(audits, shown.map(function (a) {
      return el('li', {}, a.at + ' ' + a.action + ' by ' + a.actor + ': ' + a.target + ', ' + (a.changes.length + (a.omitted || 0)) + ' shard(s)');
    }));
    if (shown.length === 0) audits.replaceChildren(el('li', { 'class': 'meta' }, 'none'));
  }

  function refresh() {
    fetch('status.json', { cache: 'no-store' })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (data.error) throw new Error(data.error);
        document.getElementById('error').textContent = '';
        render(data);
      })
      .catch(function (err) {
        document.getElementById('error').textContent = 'last refresh failed: ' + err.message + ' (showing the previous read)';
      })
      .then(function () { setTimeout(refresh, REFRESH_MS); });
  }
  refresh();
})();
</script>
</body>
</html>
`;
}
