// The sledchain explorer: one page over the node's /api routes, live from
// /api/events. Every value from the node reaches the DOM as text
// (textContent, text nodes or attribute values), never as HTML.
//
// Pages are hash routes (#/blocks, #/block/HASH, #/tx/TXID, ...): each URL
// survives a reload and can be shared. A view builds its content off the
// page and replaces the old one only if no newer navigation started.
'use strict';

const SITE = 'sledchain explorer';
const SVG_NS = 'http://www.w3.org/2000/svg';
/// Transactions per page (the API's page size for block transactions).
const TX_PAGE = 25;
/// Confirmed transactions an address page reads at most (40 API pages).
const ADDRESS_TX_CAP = 1000;
/// How often the chain tips and peers pages read the node again, ms.
const POLL_MS = 4000;

// ---- helpers ----------------------------------------------------------

// el('a', {href: '#/'}, 'text', child...): an element; strings become text nodes.
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  setAttrs(e, attrs);
  return put(e, ...kids);
}

// Appends `kids` (nested arrays flattened, null/undefined/false skipped).
function put(parent, ...kids) {
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    parent.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return parent;
}

function setAttrs(e, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === 'class') e.setAttribute('class', v);
    else if (k === 'text') e.textContent = String(v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, String(v));
  }
}

// An SVG element; `text` becomes its text content.
function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVG_NS, tag);
  setAttrs(e, attrs);
  if (text !== undefined) e.textContent = String(text);
  return e;
}

// An error from the API: `status` and the `error` text of its JSON body.
class ApiError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

async function api(path) {
  let r;
  try {
    r = await fetch('/api' + path);
  } catch {
    throw new ApiError(0, 'the node does not answer (is it running?)', null);
  }
  const text = await r.text();
  const json = (r.headers.get('content-type') || '').includes('json');
  if (!r.ok) {
    let msg = `HTTP ${r.status}`, field = null;
    if (json) {
      try {
        const body = JSON.parse(text);
        msg = body.error || msg;
        field = body.field || null;
      } catch { /* keep the status */ }
    }
    throw new ApiError(r.status, msg, field);
  }
  return json ? JSON.parse(text) : text;
}

const short = (h, n = 8) => (h && h.length > 2 * n + 3 ? h.slice(0, n) + '…' + h.slice(-n) : String(h));
const plural = (n, one, many) => `${n} ${n === 1 ? one : (many || one + 's')}`;
const coins = (v) => (v === null || v === undefined ? 'unknown' : `${Number(v).toLocaleString('en-US')} ${v === 1 ? 'coin' : 'coins'}`);
const signed = (v) => (v > 0 ? '+' : v < 0 ? '−' : '') + coins(Math.abs(v));
function bytes(n) {
  if (n === null || n === undefined) return 'not counted';
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(n < 1e4 ? 2 : 1)} kB`;
  return `${(n / 1e6).toFixed(2)} MB`;
}
// A fee rate in coins per byte, with enough digits to tell rates apart.
function rate(fee, size) {
  if (fee === null || fee === undefined || !size) return 'unknown';
  return fmtRate(fee / size);
}
function fmtRate(r) {
  if (r === 0) return '0 coins/B';
  const digits = r >= 1 ? 2 : Math.min(8, 2 - Math.floor(Math.log10(r)));
  return `${r.toFixed(digits)} coins/B`;
}
const exact = (t) => new Date(t * 1000).toISOString().replace('T', ' ').replace('.000Z', ' UTC');
function ago(t) {
  const s = Math.round(Date.now() / 1000 - t);
  if (s < -60) return `in ${ago(2 * t - Date.now() / 1000).replace(' ago', '')}`;
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
  return plural(Math.floor(s / 86400), 'day') + ' ago';
}
// A relative time with the exact time on hover; refreshed every 30 s.
const when = (t) => el('time', {datetime: new Date(t * 1000).toISOString(), title: exact(t), 'data-t': t}, ago(t));
function duration(s) {
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

// Copies `text`; the button says so for 1.5 s (its accessible name too).
async function copy(text, button, what) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const t = el('textarea', {'aria-hidden': 'true'}, text);
    document.body.append(t);
    t.select();
    document.execCommand('copy');
    t.remove();
  }
  button.textContent = 'copied';
  button.setAttribute('aria-label', `Copied ${what}`);
  button.classList.add('done');
  setTimeout(() => {
    button.textContent = 'copy';
    button.setAttribute('aria-label', `Copy ${what}`);
    button.classList.remove('done');
  }, 1500);
}
const copyButton = (text, what) => el('button', {type: 'button', class: 'copy', 'aria-label': `Copy ${what}`,
  title: `Copy ${what}`, onclick: (e) => copy(text, e.currentTarget, what)}, 'copy');

const href = (kind, id) => `#/${kind}/${encodeURIComponent(id)}`;
// A link to a hash or address shortened in the middle; the full value in
// its title and data-full, and a copy button beside it.
function hashLink(kind, id, opts = {}) {
  const a = el('a', {href: href(kind, id), 'data-link': kind, 'data-full': id, title: id},
    opts.text ?? short(id, opts.n));
  return el('span', {class: 'hash'}, a, opts.copy === false ? null : copyButton(id, `${kind === 'address' ? 'address' : kind + ' hash'}`));
}
// A full hash as text (for the page's own object), with a copy button.
const fullHash = (id, what) => el('span', {}, el('span', {class: 'mono full', 'data-full': id}, id), copyButton(id, what));
const link = (kind, id, text) => el('a', {href: href(kind, id), 'data-link': kind}, text);

// A definition list; each value cell carries data-field=NAME for scripts.
function fields(rows) {
  const dl = el('dl');
  for (const [name, label, value] of rows) {
    if (value === undefined) continue;
    dl.append(el('dt', {}, label), el('dd', {'data-field': name}, value));
  }
  return dl;
}

// A table; `head` cells are text or [text, class]; rows are <tr>s.
function table(head, rows, attrs) {
  const tr = el('tr', {}, head.map((h) => Array.isArray(h) ? el('th', {class: h[1], scope: 'col'}, h[0]) : el('th', {scope: 'col'}, h)));
  return el('table', attrs || {}, el('thead', {}, tr), el('tbody', {}, rows));
}
const td = (v, cls) => el('td', cls ? {class: cls} : {}, v);

const card = (...kids) => el('section', {class: 'card'}, ...kids);
const stat = (id, label, value) => el('div', {}, el('span', {}, label), el('b', {id}, value));

function pager(items) {
  const nav = el('nav', {class: 'pager', 'aria-label': 'Pagination'});
  for (const [label, target, cls] of items) {
    if (target === null) nav.append(el('span', {class: cls || 'where'}, label));
    else if (target !== undefined) nav.append(el('a', {href: target, class: cls}, label));
  }
  return nav;
}

// Leading zero bits of a hash in hex (the proof of work of a block hash).
function zeroBits(hex) {
  let n = 0;
  for (const c of hex) {
    const v = parseInt(c, 16);
    if (v === 0) { n += 4; continue; }
    return n + Math.clz32(v) - 28;
  }
  return n;
}

// Width available to a drawing in the main column, in CSS pixels.
const drawWidth = () => Math.max(300, Math.min(1160, document.getElementById('view').clientWidth - 40));

// ---- the summary line ---------------------------------------------------

let status = null;
const tipHeight = () => status?.height ?? 0;

async function refreshSummary() {
  status = await api('/node/status');
  const s = status;
  const sep = () => el('span', {class: 'sep', 'aria-hidden': 'true'}, '·');
  const box = document.getElementById('summary');
  box.replaceChildren();
  put(box, 'height ', el('b', {id: 'summary-height'}, s.height ?? 'no chain'),
    s.tip ? [' tip ', el('a', {href: href('block', s.tip), id: 'summary-tip', 'data-full': s.tip, title: s.tip, class: 'mono'}, short(s.tip, 6))] : null,
    sep(), el('span', {id: 'summary-peers'}, plural(s.peers ?? 0, 'peer')),
    sep(), 'mempool ', el('span', {id: 'summary-mempool'}, `${plural(s.mempool?.count ?? 0, 'tx', 'txs')}, ${bytes(s.mempool?.bytes ?? 0)}`),
    sep(), `difficulty ${s.difficulty ?? '-'} bits`,
    sep(), el('span', {id: 'summary-sync'}, s.sync ?? '-'),
  );
}

// ---- charts ---------------------------------------------------------------

// Bars of `values` (each [label, a, b?]) with two series on one x axis;
// `fmtA`/`fmtB` label the tallest of each. An SVG with a text title.
function barChart(title, values, fmtA, fmtB) {
  const W = drawWidth(), H = 150, pad = 22;
  const svg = svgEl('svg', {viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': title});
  svg.append(svgEl('title', {}, title));
  const maxA = Math.max(1, ...values.map((v) => v[1]));
  const maxB = Math.max(1, ...values.map((v) => v[2] ?? 0));
  const n = values.length, slot = (W - 10) / Math.max(1, n), bw = Math.min(48, Math.max(2, slot * (values[0]?.length > 2 ? 0.38 : 0.7)));
  const y0 = H - pad;
  svg.append(svgEl('line', {x1: 0, x2: W, y1: y0, y2: y0, class: 'axis'}));
  values.forEach(([label, a, b], i) => {
    const x = 5 + i * slot + (slot - (b === undefined ? bw : 2 * bw)) / 2;
    const ha = (a / maxA) * (H - 2 * pad - 4);
    const r = svgEl('rect', {x, y: y0 - ha, width: bw, height: Math.max(ha, 1), class: 'bar-a'});
    r.append(svgEl('title', {}, `${label}: ${fmtA(a)}${b === undefined ? '' : ', ' + fmtB(b)}`));
    svg.append(r);
    if (b !== undefined) {
      const hb = (b / maxB) * (H - 2 * pad - 4);
      const rb = svgEl('rect', {x: x + bw, y: y0 - hb, width: bw, height: Math.max(hb, 1), class: 'bar-b'});
      rb.append(svgEl('title', {}, `${label}: ${fmtB(b)}`));
      svg.append(rb);
    }
    if (n <= 12 || i % Math.ceil(n / 12) === 0) {
      svg.append(svgEl('text', {x: 5 + i * slot + slot / 2, y: H - 6, 'text-anchor': 'middle', class: 'muted'}, label));
    }
  });
  svg.append(svgEl('text', {x: 4, y: 12, class: 'muted'}, `max ${fmtA(maxA)}` + (values.some((v) => v[2] !== undefined) ? ` · max ${fmtB(maxB)}` : '')));
  return svg;
}

// The balance after each transaction (`points`, oldest first) as steps,
// one step per transaction; `first`/`last` label the ends of the x axis.
function stepChart(title, points, fmtY, first, last) {
  const W = drawWidth(), H = 140, pad = 20;
  const svg = svgEl('svg', {viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': title, id: 'balance-chart'});
  svg.append(svgEl('title', {}, title));
  const top = Math.max(1, ...points);
  const step = (W - 12) / points.length;
  const X = (i) => 6 + i * step, Y = (y) => H - pad - (y / top) * (H - 2 * pad);
  let d = `M ${X(0)} ${Y(0)}`;
  points.forEach((y, i) => { d += ` L ${X(i)} ${Y(y)} L ${X(i + 1)} ${Y(y)}`; });
  svg.append(svgEl('line', {x1: 0, x2: W, y1: H - pad, y2: H - pad, class: 'axis'}));
  svg.append(svgEl('path', {d, 'stroke-width': 2, class: 'line'}));
  svg.append(svgEl('text', {x: 6, y: 12, class: 'muted'}, `max ${fmtY(top)} · now ${fmtY(points[points.length - 1])}`));
  svg.append(svgEl('text', {x: 6, y: H - 5, class: 'muted'}, first));
  if (W > 420 || points.length > 1) svg.append(svgEl('text', {x: W - 6, y: H - 5, 'text-anchor': 'end', class: 'muted'}, last));
  return svg;
}

// ---- home -----------------------------------------------------------------

function blockRow(b, extra) {
  return el('tr', {'data-hash': b.id},
    td(link('block', b.id, b.height)), td(hashLink('block', b.id, {copy: false, n: 6}), 'opt'),
    td(when(b.timestamp)), td(b.tx_count, 'num'), td(bytes(b.size), 'num'), ...(extra || []));
}

async function viewHome(view) {
  const [blocks, pool, recent] = await Promise.all([api('/blocks'), api('/mempool'), api('/mempool/recent')]);
  const older = blocks.length && blocks[blocks.length - 1].height > 0 ? await api(`/blocks/${blocks[blocks.length - 1].height - 1}`) : [];
  put(view, 
    el('h1', {class: 'sr'}, 'Overview'),
    el('div', {class: 'grid2'},
      card(el('h2', {}, 'Latest blocks'),
        table(['Height', ['Hash', 'opt'], 'Age', ['Txs', 'num'], ['Size', 'num']], blocks.slice(0, 8).map((b) => blockRow(b)), {id: 'blocks'}),
        el('p', {class: 'more'}, el('a', {href: '#/blocks'}, 'All blocks →'))),
      card(el('h2', {}, 'Mempool'),
        el('div', {class: 'stats'}, stat('home-mempool-count', 'Transactions', pool.count),
          stat('home-mempool-bytes', 'Size', bytes(pool.vsize)), stat('home-mempool-fee', 'Total fees', coins(pool.total_fee))),
        el('h2', {class: 'sub'}, 'Newest'),
        recent.length ? recentTable(recent.slice(0, 6)) : el('p', {id: 'mempool-empty'}, 'No transaction is waiting.'),
        el('p', {class: 'more'}, el('a', {href: '#/mempool'}, 'Mempool →')))),
    card(el('h2', {}, 'Recent blocks: interval and size'), blockChart([...blocks, ...older])));
  return 'Overview';
}

// Intervals between consecutive blocks and their sizes, oldest first.
function blockChart(blocks) {
  const bs = [...blocks].sort((a, b) => a.height - b.height);
  const vals = bs.slice(1).map((b, i) => [String(b.height), Math.max(0, b.timestamp - bs[i].timestamp), b.size]);
  return el('div', {},
    el('div', {class: 'legend'}, el('span', {}, el('i', {class: 'a'}), 'interval since the previous block'), el('span', {}, el('i', {class: 'b'}), 'size')),
    vals.length ? barChart('Block intervals and sizes by height', vals, duration, bytes) : el('p', {}, 'Not enough blocks yet.'));
}

function recentTable(recent) {
  return table(['Txid', ['Fee', 'num'], ['Fee rate', 'num opt'], ['Size', 'num opt'], ['Value', 'num']], recent.map((t) =>
    el('tr', {'data-hash': t.txid}, td(hashLink('tx', t.txid, {copy: false, n: 6})), td(coins(t.fee), 'num'),
      td(rate(t.fee, t.vsize), 'num opt'), td(bytes(t.vsize), 'num opt'), td(coins(t.value), 'num'))), {id: 'mempool-recent'});
}

// ---- blocks ---------------------------------------------------------------

// Fees (sum over its transactions) and minter (the coinbase's address) of a block.
async function blockExtras(b) {
  const first = await api(`/block/${b.id}/txs/0`);
  let fees = 0;
  let txs = first;
  for (let start = 0; ;) {
    for (const t of txs) fees = fees === null || t.fee === null ? null : fees + t.fee;
    start += TX_PAGE;
    if (start >= b.tx_count || start >= 250) break;
    txs = await api(`/block/${b.id}/txs/${start}`);
  }
  if (b.tx_count > 250) fees = null;
  const cb = first[0];
  return {fees, minter: cb?.vout[0]?.scriptpubkey_address, reward: cb ? cb.vout.reduce((s, o) => s + o.value, 0) : null};
}

async function viewBlocks(view, startArg) {
  const top = tipHeight();
  let start = startArg === undefined ? top : Number(startArg);
  if (!Number.isInteger(start) || start < 0) throw new ApiError(400, `"${startArg}" is not a block height`, 'height');
  start = Math.min(start, top);
  const blocks = await api(`/blocks/${start}`);
  const extras = await Promise.all(blocks.map(blockExtras));
  const low = blocks.length ? blocks[blocks.length - 1].height : 0;
  const rows = blocks.map((b, i) => blockRow(b, [
    td(extras[i].fees === null ? 'unknown' : coins(extras[i].fees), 'num opt'),
    td(extras[i].minter ? hashLink('address', extras[i].minter, {copy: false, n: 5}) : '-', 'opt')]));
  put(view, el('h1', {}, 'Blocks ', el('small', {}, `${low}–${start} of ${top + 1} on the best chain`)),
    card(table(['Height', ['Hash', 'opt'], 'Age', ['Txs', 'num'], ['Size', 'num'], ['Fees', 'num opt'], ['Minter', 'opt']], rows, {id: 'block-list'}),
      pager([
        ['« Newest', start < top ? '#/blocks' : undefined],
        ['‹ Newer', start < top ? `#/blocks/${Math.min(top, start + 10)}` : undefined],
        [`blocks ${low}–${start}`, null],
        ['Older ›', low > 0 ? `#/blocks/${low - 1}` : undefined, 'older'],
        ['Oldest »', low > 0 ? `#/blocks/${Math.min(top, 9)}` : undefined]])));
  return start === top ? 'Blocks' : `Blocks ${low}–${start}`;
}

// For a block off the best chain: its fork point (the last ancestor on the
// best chain) and the tip of its branch.
async function branchOf(b) {
  let cur = b;
  for (let i = 0; i < 2000; i++) {
    const prev = await api('/block/' + cur.previousblockhash);
    const st = await api(`/block/${prev.id}/status`);
    if (st.in_best_chain) {
      const tips = await api('/node/chaintips');
      let tip = null;
      for (const t of tips) {
        if (t.status === 'active' || t.height < b.height || t.height - t.branchlen !== prev.height) continue;
        let h = t.hash;
        for (let k = t.height; k > b.height; k--) h = (await api('/block/' + h)).previousblockhash;
        if (h === b.id) { tip = t; break; }
      }
      return {fork: prev, tip};
    }
    cur = prev;
  }
  return {fork: null, tip: null};
}

async function viewBlock(view, hash, startArg) {
  const start = startArg === undefined ? 0 : Number(startArg);
  const [b, st] = await Promise.all([api('/block/' + hash), api(`/block/${hash}/status`)]);
  if (!Number.isInteger(start) || start < 0 || (start > 0 && start >= b.tx_count)) {
    throw new ApiError(404, `block ${b.height} has ${plural(b.tx_count, 'transaction')}; there is no page from ${startArg}`, 'start_index');
  }
  const [txs, extras, branch] = await Promise.all([api(`/block/${hash}/txs/${start}`), blockExtras(b),
    st.in_best_chain ? null : branchOf(b)]);
  const zb = zeroBits(b.id);
  const tries = 2 ** b.bits;
  const confirmations = st.in_best_chain ? tipHeight() - b.height + 1 : 0;
  put(view, 
    el('h1', {}, `Block ${b.height} `, st.in_best_chain ? el('span', {class: 'badge good'}, 'best chain') : el('span', {class: 'badge warn', id: 'stale'}, 'stale')),
    card(fields([
      ['hash', 'Hash', fullHash(b.id, 'block hash')],
      ['height', 'Height', b.height],
      ['in_best_chain', 'Status', st.in_best_chain ? 'on the best chain' : 'stale: not on the best chain'],
      ['branch', 'Branch', branch ? (branch.fork ? el('span', {},
        'forks from the best chain after block ', link('block', branch.fork.id, branch.fork.height),
        branch.tip ? [' · its tip: ', link('block', branch.tip.hash, `block ${branch.tip.height}`), ` (${branch.tip.status}, ${plural(branch.tip.branchlen, 'block')} long)`] : '',
        ' · ', el('a', {href: '#/tips'}, 'chain tips')) : 'fork point unknown') : undefined],
      ['confirmations', 'Confirmations', confirmations],
      ['timestamp', 'Time', el('span', {}, exact(b.timestamp), ' (', when(b.timestamp), ')')],
      ['mediantime', 'Median time past', el('span', {title: 'BIP113: the median time of this block and the ten before it; the next block must be later'}, exact(b.mediantime))],
      ['previous', 'Previous block', b.height === 0 ? 'none (genesis)' : el('span', {}, link('block', b.previousblockhash, `‹ block ${b.height - 1}`), ' ', hashLink('block', b.previousblockhash, {text: short(b.previousblockhash, 6)}))],
      ['next', 'Next block', st.next_best ? el('span', {}, link('block', st.next_best, `block ${b.height + 1} ›`), ' ', hashLink('block', st.next_best, {text: short(st.next_best, 6)})) : (st.in_best_chain ? 'none yet (this is the tip)' : 'none on the best chain')],
      ['tx_count', 'Transactions', b.tx_count],
      ['size', 'Size', bytes(b.size)],
      ['fees', 'Fees', extras.fees === null ? 'unknown' : coins(extras.fees)],
      ['reward', 'Coinbase reward', coins(extras.reward)],
      ['minter', 'Minter', extras.minter ? hashLink('address', extras.minter) : '-'],
      ['merkle_root', 'Merkle root', el('span', {class: 'mono full'}, b.merkle_root)],
      ['version', 'Version', b.version],
      ['bits', 'Difficulty (bits)', b.bits],
      ['nonce', 'Nonce', b.nonce],
      ['pow', 'Proof of work', `${zb} leading zero bits, ${b.bits} required: ${zb >= b.bits ? 'valid' : 'NOT MET'}`],
    ]), el('p', {class: 'explain', id: 'pow-explained'},
      `Proof of work: the block hash (double SHA-256 of the 80-byte header) read as a 256-bit number must be below the target 2^(256−${b.bits}), `,
      `that is, start with at least ${b.bits} zero bits. The minter changed the nonce until a hash did; `,
      `that takes about 2^${b.bits} = ${tries.toLocaleString('en-US')} tries on average. This hash starts with ${zb} zero bits.`)),
    card(el('h2', {}, `Transactions ${start + 1}–${start + txs.length} of ${b.tx_count}`),
      el('div', {id: 'block-txs'}, txs.map((tx) => txSummary(tx))),
      pager([
        ['‹ Previous', start > 0 ? href('block', hash) + '/' + Math.max(0, start - TX_PAGE) : undefined],
        [`page ${Math.floor(start / TX_PAGE) + 1} of ${Math.ceil(b.tx_count / TX_PAGE)}`, null],
        ['Next ›', start + TX_PAGE < b.tx_count ? href('block', hash) + '/' + (start + TX_PAGE) : undefined, 'next']])));
  return `Block ${b.height}` + (start > 0 ? `, transactions ${start + 1}–${start + txs.length}` : '');
}

// A transaction in a list: txid, fee and rate, its inputs and outputs.
function txSummary(tx, addr) {
  const mine = addr ? delta(tx, addr) : null;
  return el('div', {class: 'txrow', 'data-txid': tx.txid},
    el('div', {}, hashLink('tx', tx.txid, {n: 10}), ' ',
      tx.vin[0]?.is_coinbase ? el('span', {class: 'badge'}, 'coinbase') : el('span', {class: 'muted'}, tx.fee === null ? 'fee unknown' : `fee ${coins(tx.fee)} · ${rate(tx.fee, tx.size)}`),
      mine === null ? null : el('b', {class: 'delta'}, ' ', signed(mine)),
      tx.status && !tx.status.confirmed ? el('span', {class: 'badge warn'}, ' mempool') : null),
    ioLists(tx, true));
}

// Inputs and outputs as two numbered lists (the text beside the flow).
function ioLists(tx, compact) {
  const ins = el('ol', {start: 0, 'aria-label': 'Inputs'}, tx.vin.map((i, n) => el('li', {'data-vin': n},
    i.is_coinbase ? 'coinbase (new coins)' : !i.prevout
      ? ['output ', link('tx', i.txid, `${short(i.txid, 6)}:${i.vout}`), ' (not known to this node\'s best chain)']
      : [hashLink('address', i.prevout.scriptpubkey_address, {copy: !compact, n: compact ? 6 : 10}),
        ' ', el('b', {}, coins(i.prevout.value)),
        compact ? null : [' from ', link('tx', i.txid, `${short(i.txid, 6)}:${i.vout}`)]])));
  const outs = el('ol', {start: 0, 'aria-label': 'Outputs'}, tx.vout.map((o, n) => el('li', {'data-vout': n},
    hashLink('address', o.scriptpubkey_address, {copy: !compact, n: compact ? 6 : 10}), ' ', el('b', {}, coins(o.value)))));
  return el('div', {class: 'io-list'},
    el('div', {}, compact ? null : el('h2', {}, `Inputs (${tx.vin.length})`), ins),
    el('div', {class: 'arrow', 'aria-hidden': 'true'}),
    el('div', {}, compact ? null : el('h2', {}, `Outputs (${tx.vout.length})`), outs));
}

// ---- transactions -----------------------------------------------------------

// The input→output flow, as mempool.space draws it: bands as wide as the
// amounts, inputs on the left, outputs and the fee on the right.
function flow(tx) {
  const W = drawWidth();
  const label = W < 560 ? 92 : 190;
  const ins = tx.vin.map((i) => ({v: i.is_coinbase ? tx.vout.reduce((s, o) => s + o.value, 0) : (i.prevout?.value ?? 0),
    text: i.is_coinbase ? 'coinbase' : i.prevout ? short(i.prevout.scriptpubkey_address, W < 560 ? 4 : 8) : 'unknown', addr: i.prevout?.scriptpubkey_address}));
  const outs = tx.vout.map((o) => ({v: o.value, text: short(o.scriptpubkey_address, W < 560 ? 4 : 8), addr: o.scriptpubkey_address}));
  if (tx.fee) outs.push({v: tx.fee, text: 'fee', fee: true});
  const rows = Math.max(ins.length, outs.length);
  const H = Math.max(90, Math.min(30, 200 / rows) * rows + 40);
  const total = Math.max(1, ins.reduce((s, i) => s + i.v, 0), outs.reduce((s, o) => s + o.v, 0));
  const span = H - 30, mid = W / 2;
  const svg = svgEl('svg', {viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'group', id: 'flow',
    'aria-label': `Flow of ${plural(tx.vin.length, 'input')} into ${plural(tx.vout.length, 'output')}`});
  svg.append(svgEl('title', {}, `${plural(tx.vin.length, 'input')} → ${plural(tx.vout.length, 'output')}`));
  const side = (items, left) => {
    const gap = items.length > 1 ? Math.min(8, 40 / items.length) : 0;
    const scale = (span - gap * (items.length - 1)) / total;
    let y = 15, yMid = 15 + (span - total * scale) / 2;
    items.forEach((it, n) => {
      const h = Math.max(2, it.v * scale), hm = Math.max(2, it.v * scale);
      const xe = left ? label : W - label, xm = left ? mid - 10 : mid + 10;
      const d = left
        ? `M ${xe} ${y} C ${(xe + xm) / 2} ${y}, ${(xe + xm) / 2} ${yMid}, ${xm} ${yMid} L ${xm} ${yMid + hm} C ${(xe + xm) / 2} ${yMid + hm}, ${(xe + xm) / 2} ${y + h}, ${xe} ${y + h} Z`
        : `M ${xm} ${yMid} C ${(xe + xm) / 2} ${yMid}, ${(xe + xm) / 2} ${y}, ${xe} ${y} L ${xe} ${y + h} C ${(xe + xm) / 2} ${y + h}, ${(xe + xm) / 2} ${yMid + hm}, ${xm} ${yMid + hm} Z`;
      const band = svgEl('path', {d, class: it.fee ? 'flow-fee' : left ? 'flow-in' : 'flow-out'});
      band.append(svgEl('title', {}, `${left ? 'input' : it.fee ? 'fee' : 'output'} ${it.fee ? '' : n + ' '}${it.addr ?? it.text}: ${coins(it.v)}`));
      svg.append(band);
      const tx0 = left ? label - 6 : W - label + 6, anchor = left ? 'end' : 'start';
      const ty = y + h / 2;
      const t1 = svgEl('text', {x: tx0, y: ty - 2, 'text-anchor': anchor}, it.text);
      const t2 = svgEl('text', {x: tx0, y: ty + 11, 'text-anchor': anchor, class: 'muted'}, coins(it.v));
      if (it.addr) {
        const a = svgEl('a', {href: href('address', it.addr)});
        a.append(t1);
        svg.append(a);
      } else svg.append(t1);
      svg.append(t2);
      y += h + gap;
      yMid += hm;
    });
  };
  side(ins, true);
  side(outs, false);
  svg.append(svgEl('rect', {x: mid - 10, y: 15, width: 20, height: span, rx: 3, class: 'flow-mid'}));
  return svg;
}

async function viewTx(view, txid) {
  const tx = await api('/tx/' + txid);
  const s = tx.status;
  const [spends, proof, pool] = await Promise.all([api(`/tx/${txid}/outspends`).catch(() => null),
    s.confirmed ? api(`/tx/${txid}/merkle-proof`).catch(() => null) : null,
    s.confirmed ? null : api('/node/mempool').catch(() => null)]);
  const conf = s.confirmed ? tipHeight() - s.block_height + 1 : 0;
  const inTotal = tx.vin.every((i) => i.prevout) ? tx.vin.reduce((a, i) => a + i.prevout.value, 0) : null;
  const coinbase = tx.vin[0]?.is_coinbase;
  put(view, 
    el('h1', {}, coinbase ? 'Coinbase transaction ' : 'Transaction ',
      s.confirmed ? el('span', {class: 'badge good'}, plural(conf, 'confirmation')) : el('span', {class: 'badge warn', id: 'unconfirmed'}, 'unconfirmed')),
    card(fields([
      ['txid', 'Txid', fullHash(tx.txid, 'txid')],
      ['status', 'Status', s.confirmed
        ? el('span', {}, 'confirmed in block ', link('block', s.block_hash, s.block_height), ' ', when(s.block_time))
        : 'in the mempool, waiting for a block'],
      ['confirmations', 'Confirmations', conf],
      ['mempool_position', 'Mempool position', pool ? mempoolPosition(tx, pool) : undefined],
      ['fee', 'Fee', coinbase ? 'none (coinbase)' : coins(tx.fee)],
      ['fee_rate', 'Fee rate', coinbase ? '-' : rate(tx.fee, tx.size)],
      ['size', 'Size', bytes(tx.size)],
      ['input_total', 'Input total', coinbase ? 'new coins' : coins(inTotal)],
      ['value', 'Output total', coins(tx.vout.reduce((a, o) => a + o.value, 0))],
      ['version', 'Version', tx.version],
    ])),
    card(el('h2', {}, 'Flow'), flow(tx), ioLists(tx, false),
      spends ? el('p', {class: 'explain'}, tx.vout.map((o, n) => spends[n]?.spent
        ? [`output ${n} spent by `, link('tx', spends[n].txid, `${short(spends[n].txid, 6)}:${spends[n].vin}`), spends[n].status?.confirmed ? '' : ' (mempool)', '. ']
        : `output ${n} unspent. `)) : null));
  if (proof) {
    put(view, card(el('h2', {}, 'Merkle proof'), fields([
      ['merkle_pos', 'Position in block', proof.pos],
      ['merkle_height', 'Block', link('block', s.block_hash, proof.block_height)],
      ['merkle_branch', 'Branch (leaf up)', proof.merkle.length ? el('ol', {start: 0}, proof.merkle.map((h) => el('li', {class: 'mono full'}, h))) : 'empty: the only transaction, its hash is the root'],
    ]), el('p', {class: 'explain'}, 'Hash this transaction (its wtxid) with each sibling in turn, left or right as the position\'s bits say, to reach the block\'s merkle root.')));
  }
  return `Transaction ${short(txid, 6)}`;
}

/// Bytes a block may hold (the consensus limit).
const MAX_BLOCK_SIZE = 1000000;

// Where an unconfirmed transaction stands among the mempool's by fee rate,
// and in about how many blocks that rate gets it mined.
function mempoolPosition(tx, pool) {
  const mine = (tx.fee ?? 0) / tx.size;
  const ahead = pool.filter((t) => t.txid !== tx.txid && (t.fee ?? 0) / t.vsize > mine);
  const bytesAhead = ahead.reduce((s, t) => s + t.vsize, 0);
  const blocks = Math.floor(bytesAhead / MAX_BLOCK_SIZE) + 1;
  return `${ahead.length + 1} of ${pool.length} by fee rate (${bytes(bytesAhead)} pay more): ` +
    (blocks === 1 ? 'fits in the next block' : `about ${blocks} blocks away`);
}

// ---- addresses ------------------------------------------------------------

// What a transaction does to `addr`'s balance, in coins.
function delta(tx, addr) {
  const got = tx.vout.filter((o) => o.scriptpubkey_address === addr).reduce((s, o) => s + o.value, 0);
  const gave = tx.vin.filter((i) => i.prevout && i.prevout.scriptpubkey_address === addr).reduce((s, i) => s + i.prevout.value, 0);
  return got - gave;
}

function qr(text) {
  if (typeof qrcode !== 'function') return el('p', {}, 'QR code unavailable');
  const q = qrcode(0, 'M');
  q.addData(text);
  q.make();
  const n = q.getModuleCount(), m = 4;
  const svg = svgEl('svg', {viewBox: `0 0 ${n + 2 * m} ${n + 2 * m}`, class: 'qr', role: 'img', 'aria-label': `QR code of ${text}`, id: 'qr', 'shape-rendering': 'crispEdges'});
  svg.append(svgEl('title', {}, `QR code of ${text}`));
  svg.append(svgEl('rect', {width: n + 2 * m, height: n + 2 * m, fill: '#fff'}));
  let d = '';
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) if (q.isDark(r, c)) d += `M${c + m} ${r + m}h1v1h-1z`;
  svg.append(svgEl('path', {d, fill: '#000'}));
  return svg;
}

async function viewAddress(view, addr, pageArg) {
  const page = pageArg === undefined ? 1 : Number(pageArg);
  const a = await api('/address/' + encodeURIComponent(addr));
  const pool = await api(`/address/${encodeURIComponent(addr)}/txs/mempool`);
  const chain = [];
  for (let batch = await api(`/address/${encodeURIComponent(addr)}/txs/chain`); batch.length; ) {
    chain.push(...batch);
    if (batch.length < TX_PAGE || chain.length >= ADDRESS_TX_CAP) break;
    batch = await api(`/address/${encodeURIComponent(addr)}/txs/chain/${batch[batch.length - 1].txid}`);
  }
  const all = [...pool, ...chain];
  const pages = Math.max(1, Math.ceil(all.length / TX_PAGE));
  if (!Number.isInteger(page) || page < 1 || page > pages) {
    throw new ApiError(404, `address ${addr} has ${pages === 1 ? 'one page' : pages + ' pages'} of history; there is no page ${pageArg}`, 'page');
  }
  const c = a.chain_stats, m = a.mempool_stats;
  // Balance after each confirmed transaction, oldest first.
  const points = [], times = [];
  let bal = c.funded_txo_sum - c.spent_txo_sum;
  for (const t of chain) { points.push(bal); times.push(t.status.block_time); bal -= delta(t, addr); }
  points.reverse();
  times.reverse();
  const slice = all.slice((page - 1) * TX_PAGE, page * TX_PAGE);
  const base = href('address', addr);
  put(view, 
    el('h1', {}, 'Address'),
    card(el('div', {class: 'addr-top'},
      el('div', {}, fields([
        ['address', 'Address', fullHash(a.address, 'address')],
        ['balance', 'Balance (confirmed)', coins(c.funded_txo_sum - c.spent_txo_sum)],
        ['pending', 'Pending (mempool)', signed(m.funded_txo_sum - m.spent_txo_sum)],
        ['received', 'Received', coins(c.funded_txo_sum)],
        ['sent', 'Sent', coins(c.spent_txo_sum)],
        ['tx_count', 'Transactions', c.tx_count + m.tx_count],
        ['mempool_count', 'Of which unconfirmed', m.tx_count],
      ])), qr(a.address))),
    card(el('h2', {}, 'Balance over time'), points.length
      ? stepChart('Confirmed balance after each confirmed transaction, oldest first', points, coins,
        `${exact(times[0]).slice(0, 16)} UTC`, `${exact(times[times.length - 1]).slice(0, 16)} UTC`)
      : el('p', {}, 'No confirmed transactions yet.'),
    chain.length >= ADDRESS_TX_CAP ? el('p', {class: 'explain'}, `The newest ${ADDRESS_TX_CAP} transactions.`) : null),
    card(el('h2', {}, `History ${all.length ? `${(page - 1) * TX_PAGE + 1}–${(page - 1) * TX_PAGE + slice.length} of ${all.length}` : ''}`),
      el('div', {id: 'address-txs'}, slice.length ? slice.map((t) => txSummary(t, addr)) : el('p', {}, 'No transactions.')),
      pager([
        ['« Newest', page > 1 ? base : undefined],
        ['‹ Newer', page > 1 ? (page === 2 ? base : `${base}/${page - 1}`) : undefined],
        [`page ${page} of ${pages}`, null],
        ['Older ›', page < pages ? `${base}/${page + 1}` : undefined, 'older'],
        ['Oldest »', page < pages ? `${base}/${pages}` : undefined]])));
  return `Address ${short(addr, 6)}` + (page > 1 ? `, page ${page}` : '');
}

// ---- mempool, peers, chain tips ---------------------------------------------

async function viewMempool(view) {
  const [pool, recent, est] = await Promise.all([api('/mempool'), api('/mempool/recent'), api('/fee-estimates')]);
  const hist = [...pool.fee_histogram].reverse().map(([r, b]) => [fmtRate(r).replace(' coins/B', ''), b]);
  put(view, el('h1', {}, 'Mempool'),
    card(el('div', {class: 'stats'},
      stat('mempool-count', 'Transactions', pool.count), stat('mempool-bytes', 'Size', bytes(pool.vsize)),
      stat('mempool-fee', 'Total fees', coins(pool.total_fee)), stat('mempool-next', 'Rate needed for the next block', fmtRate(est['1'] ?? 0)))),
    card(el('h2', {}, 'Fee rates (coins per byte)'), hist.length
      ? [el('div', {class: 'legend'}, el('span', {}, el('i', {class: 'a'}), 'bytes of the transactions paying about that rate (from it up to the next bar\'s)')),
        barChart('Bytes waiting by fee rate', hist, bytes)]
      : el('p', {}, 'The mempool is empty.')),
    card(el('h2', {}, 'Newest transactions'), recent.length ? recentTable(recent) : el('p', {id: 'mempool-empty'}, 'No transaction is waiting.')));
  return 'Mempool';
}

async function viewPeers(view) {
  const peers = await api('/node/peers');
  put(view, el('h1', {}, 'Peers ', el('small', {}, plural(peers.length, 'connection'))),
    card(peers.length ? table(['Address', 'Direction', ['Height', 'num'], ['Ping', 'num'], ['Bytes in', 'num opt'], ['Bytes out', 'num opt'], ['Connected', 'opt'], ['Score', 'num opt']],
      peers.map((p) => el('tr', {'data-addr': p.addr}, td(el('span', {class: 'mono'}, p.addr)),
        td(p.direction + (p.handshake === 'done' ? '' : ' (handshake pending)')), td(p.height, 'num'),
        td(p.ping_ms === null ? '-' : `${p.ping_ms} ms`, 'num'), td(bytes(p.bytes_in), 'num opt'), td(bytes(p.bytes_out), 'num opt'),
        td(p.connected_since ? when(p.connected_since) : '-', 'opt'), td(p.score, 'num opt'))), {id: 'peers'})
      : el('p', {}, 'No peer is connected.'),
    el('p', {class: 'explain'}, 'Score: misbehaviour points; at the ban score the node drops the peer.')));
  return 'Peers';
}

/// Forks this many blocks below the tip or closer count as recent.
const RECENT_FORK = 50;

async function viewTips(view) {
  const tips = await api('/node/chaintips');
  const active = tips.find((t) => t.status === 'active') || {height: 0};
  const recent = tips.filter((t) => t.status === 'active' || active.height - t.height <= RECENT_FORK).slice(0, 12);
  const older = tips.filter((t) => !recent.includes(t));
  put(view, el('h1', {}, 'Chain tips'),
    card(el('h2', {}, 'The best chain and recent forks'), tipsPicture(recent, active),
      el('p', {class: 'explain'}, 'The best chain is the thick line; each fork leaves it at the block where it branched off. ',
        'A fork is "valid-fork" when its blocks were checked but carry less work, "valid-headers" when stored but not checked, "invalid" when they broke a rule.')),
    card(el('h2', {}, 'Every tip'), tipTable(tips, 'tips')),
    older.length ? card(el('h2', {}, `Older forks (more than ${RECENT_FORK} blocks below the tip)`), tipTable(older, 'older-tips')) : null);
  return 'Chain tips';
}

function tipTable(tips, id) {
  return table(['Status', ['Height', 'num'], ['Branch', 'num'], ['Forks after', 'num opt'], 'Tip'], tips.map((t) =>
    el('tr', {'data-status': t.status, 'data-hash': t.hash}, td(t.status), td(t.height, 'num'), td(t.branchlen, 'num'),
      td(t.status === 'active' ? '-' : t.height - t.branchlen, 'num opt'), td(hashLink('block', t.hash, {n: 8})))), {id});
}

// The active chain as a line, each fork a branch leaving it at its fork point.
function tipsPicture(tips, active) {
  const W = drawWidth(), rowH = 40;
  const forks = tips.filter((t) => t !== active);
  const lo = Math.max(0, Math.min(active.height, ...forks.map((t) => t.height - t.branchlen)) - 3);
  const hi = Math.max(active.height, ...forks.map((t) => t.height));
  const x = (h) => 12 + ((h - lo) / Math.max(1, hi - lo)) * (W - 40);
  const H = rowH * (forks.length + 1) + 10;
  const svg = svgEl('svg', {viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'group', id: 'tips-picture',
    'aria-label': `Best chain to height ${active.height} and ${plural(forks.length, 'fork')}`});
  svg.append(svgEl('title', {}, `Best chain to height ${active.height} and ${plural(forks.length, 'fork')}`));
  const yA = 26;
  // A label starting at xx, moved left as far as it must to fit (about
  // 6.7 px a character of the 11 px monospace font).
  const label = (t, xx, y, text) => svg.append(svgEl('text', {x: Math.max(4, Math.min(xx, W - 8 - text.length * 6.7)), y}, text));
  svg.append(svgEl('line', {x1: x(lo), y1: yA, x2: x(active.height), y2: yA, class: 'tip-line active', 'stroke-width': 5, 'stroke-linecap': 'round'}));
  label(active, x(lo), yA - 9, `${lo > 0 ? '… ' : 'genesis '}best chain to height ${active.height}`);
  const a = svgEl('a', {href: href('block', active.hash ?? '')});
  a.append(svgEl('circle', {cx: x(active.height), cy: yA, r: 6, class: 'tip-dot active', 'data-tip': active.hash, 'data-status': 'active'}, undefined));
  a.firstChild.append(svgEl('title', {}, `active tip ${active.height} ${active.hash}`));
  svg.append(a);
  forks.forEach((t, i) => {
    const y = yA + rowH * (i + 1);
    const from = t.height - t.branchlen;
    const cls = t.status === 'invalid' ? 'invalid' : 'fork';
    svg.append(svgEl('path', {d: `M ${x(from)} ${yA} C ${x(from) + 10} ${yA}, ${x(from)} ${y}, ${x(from) + 14} ${y} L ${Math.max(x(t.height), x(from) + 14)} ${y}`,
      class: `tip-line ${cls}`, 'stroke-width': 3}));
    const ta = svgEl('a', {href: href('block', t.hash)});
    const dot = svgEl('circle', {cx: Math.max(x(t.height), x(from) + 14), cy: y, r: 5, class: `tip-dot ${cls}`, 'data-tip': t.hash, 'data-status': t.status});
    dot.append(svgEl('title', {}, `${t.status} tip ${t.height} ${t.hash}`));
    ta.append(dot);
    svg.append(ta);
    label(t, x(from) + 16, y - 8, `${t.status}: ${plural(t.branchlen, 'block')} after ${from}, tip ${t.height} ${short(t.hash, 4)}`);
  });
  return svg;
}

// ---- search, errors, routing -------------------------------------------------

async function viewSearch(view, q) {
  q = (q || '').trim();
  let target = null;
  if (/^\d+$/.test(q)) {
    target = href('block', await api('/block-height/' + q).catch((e) => {
      if (e.status === 404) throw new ApiError(404, `there is no block at height ${q}: the best chain ends at ${tipHeight()}`, 'height');
      throw e;
    }));
  } else if (/^[0-9a-fA-F]{64}$/.test(q)) {
    const h = q.toLowerCase();
    if (await api('/block/' + h).then(() => true, () => false)) target = href('block', h);
    else if (await api('/tx/' + h).then(() => true, () => false)) target = href('tx', h);
    else throw new ApiError(404, `no block or transaction has the hash ${h}`, 'hash');
  } else if (q) {
    await api('/address/' + encodeURIComponent(q)).catch((e) => {
      throw new ApiError(404, `"${q}" is not a height, block hash, txid or address this node knows` + (e.status === 400 ? ` (${e.message})` : ''), 'search');
    });
    target = href('address', q);
  } else throw new ApiError(404, 'type a height, block hash, txid or address', 'search');
  location.replace(target);
  return null;
}

const WHAT = {block: 'block', tx: 'transaction', address: 'address', blocks: 'block list', search: 'search'};

function errorPage(e, kind, id) {
  const notFound = e.status === 404;
  const title = e.status === 0 ? 'The node does not answer' : notFound ? 'Not found' : e.status === 400 ? 'Not a valid ' + (WHAT[kind] || 'request') : 'Something went wrong';
  return [el('div', {class: 'error', id: 'error', 'data-status': e.status ?? ''},
    el('h1', {}, title),
    card(el('p', {}, id !== undefined ? ['You looked for ', el('b', {class: 'mono full', id: 'error-searched'}, id), WHAT[kind] ? ` (${WHAT[kind]})` : '', '.'] : null),
      el('p', {id: 'error-message'}, e instanceof ApiError ? capital(e.message) + '.' : 'The page failed: ' + String(e.message || e)),
      el('p', {}, el('a', {href: '#/'}, 'Back to the overview'), ' · ', el('a', {href: '#/blocks'}, 'Blocks'))))];
}
const capital = (s) => s.charAt(0).toUpperCase() + s.slice(1);

const ROUTES = {
  '': [viewHome, ['block', 'tx'], 0],
  blocks: [viewBlocks, ['block'], 1],
  block: [viewBlock, ['block'], 2],
  tx: [viewTx, ['block', 'tx'], 1],
  address: [viewAddress, ['block', 'tx'], 2],
  mempool: [viewMempool, ['block', 'tx'], 0],
  peers: [viewPeers, ['peer', 'poll'], 0],
  tips: [viewTips, ['block', 'poll'], 0],
  search: [viewSearch, [], 1],
};

let routeSeq = 0;
let current = {live: []};

// Shows the page of location.hash. A `live` re-render (after an event)
// keeps the page and marks rows that were not there before.
async function route(live) {
  const seq = ++routeSeq;
  const parts = location.hash.replace(/^#\/?/, '').split('/').map((p) => { try { return decodeURIComponent(p); } catch { return p; } });
  const kind = parts[0] || '';
  const args = parts.slice(1).filter((p) => p !== '');
  const r = ROUTES[kind];
  const view = el('div');
  let title;
  if (!r || args.length > r[2] || (['block', 'tx', 'address', 'search'].includes(kind) && args.length === 0)) {
    title = 'Page not found';
    put(view, ...errorPage(new ApiError(404, `there is no page "${location.hash}"`, null), 'page', location.hash));
    current = {live: []};
  } else {
    try {
      title = await r[0](view, ...args);
      current = {live: r[1]};
    } catch (e) {
      view.replaceChildren(...errorPage(e, kind, args[0]));
      title = e.status === 404 ? 'Not found' : 'Error';
      current = {live: kind === 'block' || kind === 'tx' ? ['block', 'tx'] : []};
    }
  }
  if (seq !== routeSeq || title === null) return;
  const main = document.getElementById('view');
  // A live re-render that changed nothing leaves the page alone (a text
  // selection, the focus and a running scan keep their nodes).
  if (live && main.childNodes.length === view.childNodes.length &&
      [...main.childNodes].every((n, i) => n.isEqualNode(view.childNodes[i])) &&
      main.dataset.width === String(window.innerWidth)) return;
  const seen = new Set([...main.querySelectorAll('[data-hash], [data-txid]')].map((e) => e.dataset.hash || e.dataset.txid));
  main.replaceChildren(...view.childNodes);
  if (live) {
    for (const row of main.querySelectorAll('tr[data-hash], .txrow[data-txid]')) {
      if (!seen.has(row.dataset.hash || row.dataset.txid)) row.classList.add('new');
    }
  }
  document.title = `${title} · ${SITE}`;
  for (const a of document.querySelectorAll('header nav a')) {
    const here = a.dataset.nav === kind || (kind === 'block' && a.dataset.nav === 'blocks');
    a.classList.toggle('here', here);
    if (here) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  main.dataset.width = window.innerWidth;
  if (!live) window.scrollTo(0, 0);
}

// Drawings are sized for the window: a new width draws the page again.
let resized = null;
window.addEventListener('resize', () => {
  clearTimeout(resized);
  resized = setTimeout(() => {
    if (String(window.innerWidth) !== document.getElementById('view').dataset.width) route(true);
  }, 150);
});

document.getElementById('search-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const box = document.getElementById('search');
  const q = box.value.trim();
  if (!q) return;
  box.value = '';
  box.blur();
  location.hash = '#/search/' + encodeURIComponent(q);
});

// "/" focuses the search box from anywhere; Escape leaves it.
document.addEventListener('keydown', (e) => {
  const box = document.getElementById('search');
  if (e.key === '/' && document.activeElement !== box && !e.ctrlKey && !e.metaKey && !e.altKey) {
    e.preventDefault();
    box.focus();
  } else if (e.key === 'Escape' && document.activeElement === box) box.blur();
});

// ---- live events ----------------------------------------------------------

let pending = null;
// Re-renders the page for an event of `kind` if the page follows it (once
// for a burst of events).
function liveUpdate(kind) {
  if (!current.live.includes(kind) || pending) return;
  pending = setTimeout(() => { pending = null; refreshSummary().catch(() => {}).then(() => route(true)); }, 150);
}

function live() {
  const badge = document.getElementById('live');
  const events = new EventSource('/api/events');
  events.onopen = () => { badge.textContent = 'live'; badge.className = 'on'; };
  events.onerror = () => { badge.textContent = 'reconnecting'; badge.className = ''; };
  const kinds = {block_connected: 'block', block_disconnected: 'block', reorg: 'block',
    tx_accepted: 'tx', tx_removed: 'tx', peer_connected: 'peer', peer_disconnected: 'peer'};
  for (const [name, kind] of Object.entries(kinds)) {
    events.addEventListener(name, () => {
      refreshSummary().catch(() => {});
      liveUpdate(kind);
    });
  }
}

setInterval(() => {
  for (const t of document.querySelectorAll('time[data-t]')) t.textContent = ago(Number(t.dataset.t));
}, 30000);
// What no event announces (a block stored on a side branch, a new ping
// time) reaches the chain tips and peers pages by polling.
setInterval(() => { if (!document.hidden) liveUpdate('poll'); }, POLL_MS);
window.addEventListener('hashchange', () => route(false));
refreshSummary().catch((e) => { document.getElementById('summary').textContent = e.message; }).then(() => route(false));
live();
