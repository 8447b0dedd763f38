"""The page at `/`: try a model in a browser. One self-contained HTML string (no CDN, no build).

A single word shows its nearest neighbours (an unknown word is marked OOV: its vector comes
from its character n-grams); text with spaces shows the predicted languages or labels of the
first model that predicts. `/?q=...&model=...` runs a query on load, so a link shares it.
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vecsmith serve</title>
<style>
 body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 46rem;
        padding: 0 1rem; color: #222; }
 h1 { font-size: 1.35rem; margin-bottom: .2rem; } .sub { color: #666; margin-top: 0; }
 form { display: flex; gap: .5rem; margin: 1.2rem 0; }
 input[type=text] { flex: 1; font-size: 1.05rem; padding: .45rem .6rem; }
 select, button { font-size: 1rem; padding: .4rem .6rem; }
 table { border-collapse: collapse; width: 100%; }
 td, th { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #eee; }
 td.num { text-align: right; font-variant-numeric: tabular-nums; width: 7rem; }
 .bar { background: #4a7bd0; height: .6rem; border-radius: 2px; }
 .oov { background: #fde68a; color: #7a4b00; border-radius: 3px; padding: 0 .35rem;
        font-size: .8rem; margin-left: .4rem; }
 .known { background: #d1fae5; color: #065f46; border-radius: 3px; padding: 0 .35rem;
          font-size: .8rem; margin-left: .4rem; }
 .error { color: #b91c1c; } footer { color: #888; margin-top: 2rem; font-size: .85rem; }
</style></head>
<body>
<h1>vecsmith serve</h1>
<p class="sub">Type a word to see its neighbours, or a sentence to see its language.</p>
<form id="f"><input id="q" type="text" autofocus placeholder="a word, or a sentence">
<select id="model" title="model"></select><button>Go</button></form>
<div id="status" role="status"></div>
<div id="result"></div>
<footer>API: <a href="/docs">/docs</a> &middot; <a href="/openapi.json">/openapi.json</a>
&middot; <a href="/models">/models</a></footer>
<script>
"use strict";
let models = [];
const $ = (id) => document.getElementById(id);
function esc(s) { const d = document.createElement("div"); d.textContent = s;
                  return d.innerHTML; }
async function post(path, body) {
  const r = await fetch(path, {method: "POST", headers: {"content-type": "application/json"},
                               body: JSON.stringify(body)});
  const j = await r.json();
  if (!r.ok) throw new Error(j.error ? j.error.message : r.statusText);
  return j;
}
function table(rows, head) {
  const max = Math.max(1e-9, ...rows.map(r => r[1]));
  return "<table><tr><th>" + head[0] + "</th><th class=num>" + head[1] + "</th><th></th></tr>" +
    rows.map(r => "<tr class=row><td>" + esc(r[0]) + "</td><td class=num>" + r[1].toFixed(4) +
      "</td><td><div class=bar style='width:" + Math.max(0, 100 * r[1] / max).toFixed(1) +
      "%'></div></td></tr>").join("") + "</table>";
}
async function run(q) {
  const name = $("model").value;
  $("status").textContent = "…"; $("result").innerHTML = "";
  try {
    if (/\\s/.test(q.trim())) {
      const m = models.find(x => x.name === name && x.predicts) ||
                models.find(x => x.predicts);
      if (!m) throw new Error("no served model predicts labels");
      const j = await post("/predict", {model: m.name, texts: [q.trim()], k: 5});
      const rows = j.predictions[0].map(p => [p.label.replace(/^__label__/, ""),
                                              p.probability]);
      $("status").innerHTML = "Predicted by <b>" + esc(m.name) + "</b>";
      $("result").innerHTML = table(rows, ["label", "probability"]);
    } else {
      const j = await post("/similar", {model: name, word: q.trim(), k: 10});
      $("status").innerHTML = "<b>" + esc(q.trim()) + "</b>" +
        (j.oov ? "<span class=oov id=oov>OOV: built from character n-grams</span>"
               : "<span class=known>in vocabulary</span>") +
        " &mdash; neighbours in <b>" + esc(name) + "</b>";
      $("result").innerHTML = table(j.neighbours.map(n => [n.word, n.score]),
                                    ["neighbour", "cosine"]);
    }
    document.body.dataset.done = "1";
  } catch (e) {
    $("status").innerHTML = "<span class=error>" + esc(e.message) + "</span>";
    document.body.dataset.done = "error";
  }
}
async function init() {
  const j = await (await fetch("/models")).json();
  models = j.models;
  $("model").innerHTML = models.map(m => "<option>" + esc(m.name) + "</option>").join("");
  const p = new URLSearchParams(location.search);
  if (p.get("model")) $("model").value = p.get("model");
  else { const e = models.find(m => !m.predicts); if (e) $("model").value = e.name; }
  if (p.get("q")) { $("q").value = p.get("q"); run(p.get("q")); }
}
$("f").addEventListener("submit", (ev) => { ev.preventDefault();
  const q = $("q").value; if (q.trim()) {
    history.replaceState(null, "", "?q=" + encodeURIComponent(q) + "&model=" +
                         encodeURIComponent($("model").value));
    run(q); } });
init();
</script>
</body></html>
"""
