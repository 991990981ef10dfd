// The sledchain explorer: one page over the node's /api routes, live from
// /api/events. Every value from the node reaches the DOM as text
// (textContent or text nodes), never as HTML.
'use strict';

// ---- helpers ----------------------------------------------------------

// el('a', {href: '#/'}, 'text', child...): an element; strings become text nodes.
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = String(v);
    else e.setAttribute(k, String(v));
  }
  for (const kid of kids) {
    if (kid === null || kid === undefined) continue;
    e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return e;
}

async function api(path) {
  const r = await fetch('/api' + path);
  const text = await r.text();
  if (!r.ok) throw new Error(`${path}: ${r.status} ${text}`);
  return (r.headers.get('content-type') || '').includes('json') ? JSON.parse(text) : text;
}

const short = (h) => (h && h.length > 20 ? h.slice(0, 10) + '…' + h.slice(-8) : String(h));
const when = (t) => new Date(t * 1000).toISOString().replace('T', ' ').replace('.000Z', ' UTC');
const link = (kind, id, text) => el('a', {href: `#/${kind}/${encodeURIComponent(id)}`, 'data-link': kind}, text ?? id);
const blockLink = (h, text) => link('block', h, text);
const txLink = (t, text) => link('tx', t, text);
const addrLink = (a, text) => link('address', a, text);

// A definition list; each value cell carries data-field=NAME for scripts.
function fields(rows) {
  const dl = el('dl');
  for (const [name, label, value] of rows) {
    dl.append(el('dt', {}, label), el('dd', {'data-field': name}, value));
  }
  return dl;
}

function table(head, rows) {
  const t = el('table', {}, el('tr', {}, ...head.map((h) => el('th', {}, h))));
  for (const r of rows) t.append(r);
  return t;
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

let tipHeight = 0;

// ---- summary and chain tips ------------------------------------------

async function refreshSummary() {
  const s = await api('/node/status');
  tipHeight = s.height ?? 0;
  const box = document.getElementById('summary');
  const item = (name, label, value) => el('div', {}, el('span', {}, label), el('b', {id: 'summary-' + name}, value));
  box.replaceChildren(
    item('height', 'Height', s.height ?? 'no chain'),
    item('tip', 'Tip', s.tip ? blockLink(s.tip) : '-'),
    item('genesis', 'Genesis (network)', s.genesis ? blockLink(s.genesis, short(s.genesis)) : '-'),
    item('peers', 'Peers', s.peers),
    item('mempool', 'Mempool', `${s.mempool.count} tx, ${s.mempool.bytes} bytes`),
    item('sync', 'Sync', s.sync),
    item('difficulty', 'Difficulty (zero bits)', s.difficulty ?? '-'),
    item('minter', 'Minter', s.minter ? addrLink(s.minter, short(s.minter)) : 'no'),
  );
}

// The chain tips as a picture: the active chain as a line from genesis, each
// other tip as a branch leaving it at its fork point.
async function refreshTips() {
  const tips = await api('/node/chaintips');
  const W = 720, x0 = 10, rowH = 22;
  const top = Math.max(1, ...tips.map((t) => t.height));
  const x = (h) => x0 + (h / top) * (W - 300);
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  const svgEl = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = String(text);
    svg.append(e);
    return e;
  };
  svg.setAttribute('width', W);
  svg.setAttribute('height', rowH * tips.length + 10);
  tips.forEach((t, i) => {
    const y = 14 + i * rowH;
    const active = t.status === 'active';
    const color = active ? '#2a8a4a' : t.status === 'invalid' ? '#b00020' : '#c07a00';
    const from = active ? 0 : t.height - t.branchlen;
    if (!active) svgEl('line', {x1: x(from), y1: 14, x2: x(from) + 8, y2: y, stroke: color, 'stroke-width': 2});
    svgEl('line', {x1: active ? x(0) : x(from) + 8, y1: y, x2: x(t.height), y2: y, stroke: color, 'stroke-width': active ? 4 : 2});
    svgEl('circle', {cx: x(t.height), cy: y, r: 4, fill: color, 'data-tip': t.hash, 'data-status': t.status});
    svgEl('text', {x: x(t.height) + 8, y: y + 4}, `${t.height} ${short(t.hash)} ${t.status}` +
      (active ? '' : ` (branch ${t.branchlen})`));
  });
  const list = table(['status', 'height', 'branch', 'tip'], tips.map((t) =>
    el('tr', {'data-status': t.status}, el('td', {}, t.status), el('td', {}, t.height),
      el('td', {}, t.branchlen), el('td', {}, blockLink(t.hash)))));
  document.getElementById('tips').replaceChildren(svg, list);
}

// ---- views --------------------------------------------------------------

function blockRow(b) {
  return el('tr', {'data-hash': b.id}, el('td', {}, blockLink(b.id, b.height)),
    el('td', {}, blockLink(b.id, short(b.id))), el('td', {}, when(b.timestamp)),
    el('td', {}, b.tx_count), el('td', {}, b.size));
}

async function viewHome(view) {
  const [blocks, recent, peers] = await Promise.all([api('/blocks'), api('/mempool/recent'), api('/node/peers')]);
  const blockTable = table(['height', 'hash', 'time', 'txs', 'bytes'], blocks.map(blockRow));
  blockTable.id = 'blocks';
  const pool = table(['txid', 'fee', 'bytes', 'value'], recent.map((t) =>
    el('tr', {}, el('td', {}, txLink(t.txid, short(t.txid))), el('td', {}, t.fee ?? '?'),
      el('td', {}, t.vsize), el('td', {}, t.value ?? '?'))));
  pool.id = 'mempool';
  const peerTable = table(['address', 'direction', 'handshake', 'height', 'ping ms', 'score'], peers.map((p) =>
    el('tr', {}, el('td', {}, p.addr), el('td', {}, p.direction), el('td', {}, p.handshake),
      el('td', {}, p.height), el('td', {}, p.ping_ms ?? '-'), el('td', {}, p.score))));
  peerTable.id = 'peers';
  view.replaceChildren(el('h2', {}, 'Latest blocks'), blockTable,
    el('div', {class: 'cols'},
      el('div', {}, el('h2', {}, 'Mempool (newest)'), pool),
      el('div', {}, el('h2', {}, 'Peers'), peerTable)));
}

// A live block: a new first row on the home view, without a reload.
async function onBlockConnected(ev) {
  const rows = document.getElementById('blocks');
  if (!rows || rows.querySelector(`tr[data-hash="${CSS.escape(ev.hash)}"]`)) return;
  const b = await api('/block/' + ev.hash);
  const tr = blockRow(b);
  tr.className = 'new';
  rows.firstChild.after(tr);
  while (rows.rows.length > 11) rows.lastChild.remove();
}

function ioList(tx) {
  const ins = el('div', {}, el('h2', {}, `Inputs (${tx.vin.length})`));
  for (const i of tx.vin) {
    ins.append(el('div', {class: 'mono'}, i.is_coinbase ? 'coinbase (new coins)' :
      el('span', {}, txLink(i.txid, `${short(i.txid)}:${i.vout}`), ' ',
        i.prevout ? addrLink(i.prevout.scriptpubkey_address) : '?', ' ',
        el('b', {}, i.prevout ? i.prevout.value : '?'))));
  }
  const outs = el('div', {}, el('h2', {}, `Outputs (${tx.vout.length})`));
  tx.vout.forEach((o, n) => outs.append(el('div', {class: 'mono', 'data-vout': n},
    `#${n} `, addrLink(o.scriptpubkey_address), ' ', el('b', {}, o.value))));
  return el('div', {class: 'io'}, ins, el('div', {class: 'arrow'}, '→'), outs);
}

async function viewBlock(view, hash) {
  const [b, st] = await Promise.all([api('/block/' + hash), api(`/block/${hash}/status`)]);
  const zb = zeroBits(b.id);
  view.replaceChildren(el('h2', {}, `Block ${b.height}`), fields([
    ['hash', 'Hash', b.id], ['height', 'Height', b.height],
    ['in_best_chain', 'In best chain', st.in_best_chain ? 'yes' : 'no'],
    ['confirmations', 'Confirmations', st.in_best_chain ? tipHeight - b.height + 1 : 0],
    ['previous', 'Previous block', b.height === 0 ? '-' : blockLink(b.previousblockhash)],
    ['next', 'Next block', st.next_best ? blockLink(st.next_best) : '-'],
    ['timestamp', 'Time', when(b.timestamp)], ['version', 'Version', b.version],
    ['merkle_root', 'Merkle root', b.merkle_root], ['bits', 'Difficulty (bits)', b.bits],
    ['nonce', 'Nonce', b.nonce],
    ['pow', 'Proof of work', `hash has ${zb} leading zero bits, ${b.bits} required: ` +
      (zb >= b.bits ? 'valid' : 'NOT MET')],
    ['size', 'Size (bytes)', b.size], ['tx_count', 'Transactions', b.tx_count],
  ]), el('h2', {}, 'Transactions'));
  for (let start = 0; start < b.tx_count; start += 25) {
    for (const tx of await api(`/block/${hash}/txs/${start}`)) {
      view.append(el('div', {class: 'mono', 'data-txid': tx.txid}, txLink(tx.txid), ` fee ${tx.fee ?? '?'}`), ioList(tx));
    }
  }
}

async function viewTx(view, txid) {
  const tx = await api('/tx/' + txid);
  const s = tx.status;
  const conf = s.confirmed ? tipHeight - s.block_height + 1 : 0;
  view.replaceChildren(el('h2', {}, 'Transaction'), fields([
    ['txid', 'Txid', tx.txid],
    ['status', 'Status', s.confirmed ? el('span', {}, 'confirmed in block ', blockLink(s.block_hash, s.block_height)) : 'in the mempool'],
    ['confirmations', 'Confirmations', conf],
    ['fee', 'Fee', tx.fee ?? '?'], ['size', 'Size (bytes)', tx.size],
    ['value', 'Output total', tx.vout.reduce((a, o) => a + o.value, 0)],
  ]), ioList(tx));
  if (s.confirmed) {
    const p = await api(`/tx/${txid}/merkle-proof`);
    view.append(el('h2', {}, 'Merkle proof'), fields([
      ['merkle_pos', 'Position in block', p.pos],
      ['merkle_branch', 'Branch (bottom up)', el('div', {}, ...p.merkle.map((h) => el('div', {}, h)))],
    ]));
  }
}

async function viewAddress(view, addr) {
  const [a, utxos, txs] = await Promise.all([api('/address/' + addr), api(`/address/${addr}/utxo`), api(`/address/${addr}/txs`)]);
  const c = a.chain_stats, m = a.mempool_stats;
  const mine = (outs) => outs.filter((o) => o && o.scriptpubkey_address === addr).reduce((s, o) => s + o.value, 0);
  view.replaceChildren(el('h2', {}, 'Address'), fields([
    ['address', 'Address', a.address],
    ['balance', 'Balance (confirmed)', c.funded_txo_sum - c.spent_txo_sum],
    ['pending', 'Pending (mempool)', m.funded_txo_sum - m.spent_txo_sum],
    ['received', 'Received', c.funded_txo_sum], ['sent', 'Sent', c.spent_txo_sum],
    ['tx_count', 'Transactions', c.tx_count + m.tx_count],
  ]), el('h2', {}, `Unspent outputs (${utxos.length})`),
  table(['outpoint', 'value', 'height'], utxos.map((u) => el('tr', {},
    el('td', {}, txLink(u.txid, `${short(u.txid)}:${u.vout}`)), el('td', {}, u.value),
    el('td', {}, u.status.confirmed ? u.status.block_height : 'mempool')))),
  el('h2', {}, 'History'),
  table(['txid', 'height', 'change'], txs.map((t) => el('tr', {},
    el('td', {}, txLink(t.txid, short(t.txid))),
    el('td', {}, t.status.confirmed ? t.status.block_height : 'mempool'),
    el('td', {}, mine(t.vout) - mine(t.vin.map((i) => i.prevout)))))));
}

// ---- routing and search -------------------------------------------------

// Each view is built off the page and shown only if no later route started
// meanwhile (a slow answer never replaces a newer view).
let routeSeq = 0;

async function route() {
  const seq = ++routeSeq;
  const view = el('div');
  const [, kind, id] = location.hash.split('/').map(decodeURIComponent);
  try {
    if (kind === 'block') await viewBlock(view, id);
    else if (kind === 'tx') await viewTx(view, id);
    else if (kind === 'address') await viewAddress(view, id);
    else await viewHome(view);
  } catch (e) {
    view.replaceChildren(el('p', {class: 'error', id: 'error'}, e.message));
  }
  if (seq === routeSeq) document.getElementById('view').replaceChildren(...view.childNodes);
}

async function search(q) {
  q = q.trim();
  if (/^\d+$/.test(q)) return '#/block/' + (await api('/block-height/' + q));
  if (/^[0-9a-fA-F]{64}$/.test(q)) {
    const r = await fetch('/api/block/' + q);
    return (r.ok ? '#/block/' : '#/tx/') + q;
  }
  return '#/address/' + encodeURIComponent(q);
}

document.getElementById('search-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    location.hash = await search(document.getElementById('search').value);
  } catch (err) {
    document.getElementById('view').replaceChildren(el('p', {class: 'error', id: 'error'}, err.message));
  }
});

// ---- live events ----------------------------------------------------------

function live() {
  const badge = document.getElementById('live');
  const events = new EventSource('/api/events');
  events.onopen = () => { badge.textContent = 'live'; badge.className = 'on'; };
  events.onerror = () => { badge.textContent = 'reconnecting'; badge.className = ''; };
  const chainChanged = () => Promise.all([refreshSummary(), refreshTips()]).catch(() => {});
  events.addEventListener('block_connected', (m) => {
    chainChanged().then(() => onBlockConnected(JSON.parse(m.data))).catch(() => {});
  });
  events.addEventListener('block_disconnected', () => {
    chainChanged();
    if (document.getElementById('blocks')) route();
  });
  events.addEventListener('reorg', chainChanged);
  for (const name of ['tx_accepted', 'tx_removed', 'peer_connected', 'peer_disconnected']) {
    events.addEventListener(name, () => {
      refreshSummary().catch(() => {});
      if (document.getElementById('blocks')) route();
    });
  }
}

window.addEventListener('hashchange', () => refreshSummary().then(route, route));
refreshSummary().catch(() => {}).then(route);
refreshTips().catch((e) => document.getElementById('tips').replaceChildren(el('p', {class: 'error'}, e.message)));
live();
