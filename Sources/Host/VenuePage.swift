/// The live venue page (`GET /venue`, docs/MARKETDATA.md §7): static HTML and JavaScript,
/// no build step, no CDN, served from the host's binary. It follows the WebSocket feed and
/// shows per market the book, recent trades, mark, funding, open interest, an option
/// market's series and halted state, and the latest signed batch with the page's own check of every line it shows:
/// the RFC 6962 inclusion proof of the line into the header's `marketDataRoot` (SHA-256 in
/// the browser's WebCrypto). The header's signature is for `attestation verify-outputs`
/// and `sealstream-client watch --signer` to check; the page says so. Served over HTTPS (a TLS
/// proxy in front of the host) it opens the feed with `wss:`; a feed message it cannot handle
/// is refused and counted on the page, and the messages after it are handled as usual.
enum VenuePage {
    static let html: [UInt8] = Array(#"""
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sealstream venue</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;background:#fafafa;color:#222}
h1{font-size:1.3em;margin:0 0 .3em} .muted{color:#777} .ok{color:#0a7d32} .bad{color:#b00020;font-weight:bold}
#markets{display:flex;flex-wrap:wrap;gap:1em} .market{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.8em;min-width:320px}
table{border-collapse:collapse;width:100%} td,th{padding:1px 6px;text-align:right;font-variant-numeric:tabular-nums}
th{font-weight:600;color:#555} .bid{color:#0a7d32} .ask{color:#b00020} .halted{background:#fdecea}
code{font-size:12px;word-break:break-all}
</style></head><body>
<h1>Sealstream venue <span class="muted">public market data</span></h1>
<div id="status" class="muted">connecting…</div>
<div>feed messages not handled: <span id="refused" class="ok">0</span> <span id="refused-reason" class="muted"></span></div>
<div id="batch"></div>
<div id="markets"></div>
<p class="muted">Every line shown is checked here against the signed batch header it came with: the
RFC 6962 inclusion proof of its bytes into <code>marketDataRoot</code>. The header's signature is checked
by <code>attestation verify-outputs</code> or <code>sealstream-client watch MARKET --signer …</code>.
Sizes in base units, prices in quote units (micro-units ÷ 10⁶). Nothing here was seen before it was sequenced.</p>
<script>
"use strict";
const markets = new Map();   // market id -> {record, trades[], verified}
let header = null, checked = 0, failed = 0;
const hex = b => Array.from(new Uint8Array(b)).map(x => x.toString(16).padStart(2, "0")).join("");
const bytes = h => new Uint8Array(h.slice(2).match(/../g).map(x => parseInt(x, 16)));
async function sha(...parts) {
  const len = parts.reduce((n, p) => n + p.length, 0), all = new Uint8Array(len);
  let at = 0; for (const p of parts) { all.set(p, at); at += p.length; }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", all));
}
// RFC 9162 §2.1.3.2 inclusion verification.
async function included(leaf, index, size, proof, root) {
  if (index >= size) return false;
  let fn = index, sn = size - 1, r = await sha(new Uint8Array([0]), leaf);
  for (const p of proof.map(bytes)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = await sha(new Uint8Array([1]), p, r);
      if (fn % 2 === 0) { while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); } }
    } else {
      r = await sha(new Uint8Array([1]), r, p);
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  return sn === 0 && hex(r) === root.slice(2);
}
const price = p => (p / 1e6).toLocaleString(undefined, {minimumFractionDigits: 2, maximumFractionDigits: 6});
const size = s => (s / 1e8).toLocaleString(undefined, {maximumFractionDigits: 8});
function render() {
  const out = [];
  for (const [id, m] of [...markets.entries()].sort((a, b) => a[0] - b[0])) {
    const r = m.record;
    const rows = [];
    for (let i = 0; i < Math.max(r.bids.length, r.asks.length); i++) {
      const b = r.bids[i], a = r.asks[i];
      rows.push(`<tr><td class="bid">${b ? size(b[1]) : ""}</td><td class="bid">${b ? price(b[0]) : ""}</td>` +
                `<td class="ask">${a ? price(a[0]) : ""}</td><td class="ask">${a ? size(a[1]) : ""}</td></tr>`);
    }
    const trades = m.trades.slice(-12).reverse().map(t =>
      `<tr><td class="${t.aggressor === "buy" ? "bid" : "ask"}">${t.aggressor}</td><td>${size(t.size)}</td><td>${price(t.price)}</td><td>${t.sequence}</td></tr>`).join("");
    out.push(`<div class="market ${r.halted ? "halted" : ""}" data-market="${id}"><b>market ${id}</b>
      <span class="muted">seq ${r.marketSequence} · batch ${r.batchIndex} · ${r.policy}</span>
      <span class="${m.verified ? "ok" : "bad"}" data-verified="${m.verified}">${m.verified ? "✓ verified" : "✗ NOT verified"}</span><br>
      mark <b data-mark>${r.halted ? "halted (reason " + r.priceInvalidity + ")" : price(r.markPrice)}</b>
      · funding ${r.fundingRateBps} bp · open interest ${size(r.openInterest)}
      ${r.option ? `<br><span data-option>${r.option.kind} strike ${price(r.option.strike)} · expiry ${new Date(r.option.expiry / 1e6).toISOString()} · underlying ${r.option.underlying} at ${r.option.underlyingMark ? price(r.option.underlyingMark) : "no mark"}${r.option.settled ? " · settled" : ""}</span>` : ""}
      <table><tr><th>bid size</th><th>bid</th><th>ask</th><th>ask size</th></tr>${rows.join("") || '<tr><td colspan="4" class="muted">no depth published</td></tr>'}</table>
      <table><tr><th>aggressor</th><th>size</th><th>price</th><th>sequence</th></tr>${trades || '<tr><td colspan="4" class="muted">no trades yet</td></tr>'}</table></div>`);
  }
  document.getElementById("markets").innerHTML = out.join("");
  const halted = [...markets.values()].filter(m => m.record.halted).map(m => m.record.market);
  document.getElementById("batch").innerHTML = header ?
    `latest signed batch <b id="batch-index">${header.batchIndex}</b>, events ${header.firstSequence}…${header.lastSequence},
     signer <code>${header.signer}</code>, marketDataRoot <code>${header.marketDataRoot.slice(0, 18)}…</code>;
     halted markets: <span id="halted">${halted.join(", ") || "none"}</span>;
     page checks: <span id="checks" class="${failed ? "bad" : "ok"}">${checked - failed}/${checked} lines verified</span>` : "";
}
// A message the page cannot handle (docs/MARKETDATA.md §7) is counted and its error shown;
// it changes nothing else the page holds or shows, and the next message is handled as usual.
let refused = 0;
function refuse(error) {
  refused++;
  const count = document.getElementById("refused");
  count.textContent = String(refused);
  count.className = "bad";
  document.getElementById("refused-reason").textContent = "(last: " + String(error).slice(0, 200) + ")";
  console.error("feed message not handled:", error);
}
const need = (ok, what) => { if (!ok) throw new Error(what); };
const isObject = v => typeof v === "object" && v !== null && !Array.isArray(v);
// Applies a change to what the page holds and shows the result. If showing it throws, the
// change is undone and shown undone (one record the page cannot render must not stop the
// rendering of every later message), and the error goes to the caller.
function commit(change) {
  const saved = {header, checked, failed, markets: new Map(markets)};
  change();
  try { render(); } catch (e) {
    ({header, checked, failed} = saved);
    markets.clear(); for (const [id, m] of saved.markets) markets.set(id, m);
    render();
    throw e;
  }
}
async function onMessage(text) {
  const m = JSON.parse(text);
  need(isObject(m) && ["snapshot", "header", "update"].includes(m.type), "not a snapshot, header or update");
  if (m.type !== "update") need(isObject(m.header) && typeof m.header.marketDataRoot === "string", "no header");
  if (m.type === "header") { commit(() => { header = m.header; }); return; }
  need(typeof m.line === "string" && Array.isArray(m.proof) && Number.isInteger(m.leafIndex) &&
       Number.isInteger(m.leafCount), "no line, proof, leafIndex or leafCount");
  const h = m.type === "snapshot" ? m.header : header;
  if (!h) return;
  const ok = await included(new TextEncoder().encode(m.line), m.leafIndex, m.leafCount, m.proof, h.marketDataRoot);
  const r = JSON.parse(m.line);  // display only: the ns times lose precision past 2^53
  need(isObject(r) && Number.isInteger(r.market) && Number.isInteger(r.marketSequence), "line without market or marketSequence");
  const prev = markets.get(r.market);
  if (m.type === "update" && prev && r.marketSequence !== prev.record.marketSequence + 1) {
    // A gap (docs/MARKETDATA.md §6): ask for snapshots and wait for them.
    if (r.marketSequence > prev.record.marketSequence) ws.send('{"op":"resync"}');
    return;
  }
  const trades = (m.type === "update" && prev ? prev.trades : []).concat(r.trades);
  commit(() => {
    header = h;
    checked++; if (!ok) failed++;
    markets.set(r.market, {record: r, trades: trades.slice(-100), verified: ok});
  });
}
let ws = null;
function connect() {
  // wss: on a page loaded over https: (a TLS proxy in front of the host), ws: otherwise.
  ws = new WebSocket(`${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/v1/feed`);
  let queue = Promise.resolve();
  ws.onopen = () => { document.getElementById("status").textContent = "live: following the feed"; };
  // One message at a time in arrival order, each on its own: a failure is refused and
  // the queue goes on.
  ws.onmessage = e => { queue = queue.then(() => onMessage(e.data)).catch(refuse); };
  ws.onclose = () => { document.getElementById("status").textContent = "disconnected; reconnecting…"; setTimeout(connect, 1000); };
}
connect();
</script></body></html>
"""#.utf8)
}
