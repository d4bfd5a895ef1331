// caios-pack report page.
//
// Input: the plan.json document inlined in <script id="plan">. Output: the
// summary panel, a zoomable squarified treemap of every file (one element with
// `data-path` per file of the zoomed subtree) and `window.caiosReport`, which
// says what was drawn so tests can read it.
//
// Hierarchy: distribution → package → … → module → file. Files without a
// distribution go under "(handler source)" or "(no distribution)"; a file's
// place below that comes from its module's dotted name, or from its
// directories when no module owns it (dist-info, shared libraries).
"use strict";
(function () {
  const TIERS = ["local", "efs", "s3"];
  const USAGES = ["hot", "lazy", "deferred", "unreachable"];
  const HEADER = 16; // px of a frame's label strip
  const $ = (id) => document.getElementById(id);

  const t0 = performance.now();
  const plan = JSON.parse($("plan").textContent);
  // Lambda's 262,144,000 bytes minus the function's layers (plan.json's
  // package_limit_bytes; older plans lack it).
  const LAMBDA_UNZIPPED_LIMIT = Number(plan.package_limit_bytes || 262144000);
  const files = plan.files || [];
  const groups = plan.groups || [];
  const p = plan.plan || {};
  const emitted = plan.emitted || {};
  const parseMs = performance.now() - t0;

  // ---- formatting -------------------------------------------------------

  function esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
  }
  function exact(n) {
    return Number(n || 0).toLocaleString("en-US") + " B";
  }
  // Decimal units, as Lambda quotes its limits (same as the CLI's human_bytes).
  function human(n) {
    const units = ["B", "kB", "MB", "GB", "TB"];
    let v = Number(n || 0), u = 0;
    while (v >= 1000 && u < units.length - 1) { v /= 1000; u++; }
    return u === 0 ? v + " B" : v.toFixed(1) + " " + units[u];
  }
  // Three significant digits below 10 ms (a small unit's 0.0132 ms is not
  // zero), else one decimal.
  function ms(v) {
    v = Number(v || 0);
    if (v !== 0 && Math.abs(v) < 10) return Number(v.toPrecision(3)) + " ms";
    return v.toLocaleString("en-US", { maximumFractionDigits: 1 }) + " ms";
  }
  // Four decimals for normal amounts; tiny ones keep two significant digits so
  // that a non-zero cost never reads as $0.0000.
  function usd(v) {
    v = Number(v || 0);
    if (v === 0) return "$0";
    return "$" + (Math.abs(v) >= 0.0001 ? v.toFixed(4) : v.toPrecision(2));
  }
  function pct(a, b) {
    return b > 0 ? ((100 * a) / b).toFixed(1) + "%" : "–";
  }
  function known(list, value) {
    return list.includes(value) ? value : "other";
  }

  // ---- hierarchy --------------------------------------------------------

  const nodes = []; // internal nodes by id (frames carry data-n = id)
  const fileParent = new Array(files.length);

  function newNode(name, parent) {
    const n = {
      id: nodes.length, name, parent, kids: new Map(), children: [],
      weight: 0, bytes: 0, count: 0,
      tier: Object.create(null), usage: Object.create(null),
    };
    nodes.push(n);
    return n;
  }
  function child(node, name) {
    let c = node.kids.get(name);
    if (!c) {
      c = newNode(name, node);
      node.kids.set(name, c);
      node.children.push(c);
    }
    return c;
  }
  function distName(f) {
    if (f.distribution) return f.distribution;
    return f.root === "source" ? "(handler source)" : "(no distribution)";
  }
  function segments(f) {
    if (f.module) return f.module.split(".");
    const dirs = String(f.path).split("/");
    dirs.pop();
    return dirs;
  }
  // Zero-byte files (empty __init__.py) still get a sliver, so that every file
  // has a rectangle to hover; the tooltip shows the real size.
  function weight(f) {
    return Math.max(Number(f.bytes) || 0, 1);
  }
  function add(tally, key, bytes) {
    const t = tally[key] || (tally[key] = { files: 0, bytes: 0 });
    t.files += 1;
    t.bytes += bytes;
  }

  function buildTree() {
    const root = newNode("all files", null);
    files.forEach((f, i) => {
      let n = child(root, distName(f));
      for (const s of segments(f)) n = child(n, s);
      n.children.push({ file: i, weight: weight(f) });
      fileParent[i] = n;
      const bytes = Number(f.bytes) || 0;
      for (let a = n; a; a = a.parent) {
        a.weight += weight(f);
        a.bytes += bytes;
        a.count += 1;
        add(a.tier, known(TIERS, f.tier), bytes);
        add(a.usage, known(USAGES, f.usage), bytes);
      }
    });
    for (const n of nodes) {
      n.children.sort((a, b) => b.weight - a.weight);
      n.kids = null; // only needed while building
    }
    return root;
  }

  const t1 = performance.now();
  const tree = buildTree();
  const treeMs = performance.now() - t1;

  // A node with a single sub-package (dist "pandas" → package "pandas") is
  // drawn and zoomed as one frame: nothing to choose between.
  function chainEnd(n) {
    while (n.children.length === 1 && n.children[0].file === undefined) n = n.children[0];
    return n;
  }
  function chainLabel(start, end) {
    const names = [];
    for (let n = end; n !== start.parent; n = n.parent) names.unshift(n.name);
    return names.join(" › ");
  }

  // ---- squarified layout (Bruls, Huizing, van Wijk 2000) ----------------

  // Places `items` (sorted by weight, largest first) in the rectangle, row by
  // row along the shorter side, closing a row when adding the next item would
  // make its worst aspect ratio worse.
  function squarify(items, x, y, w, h, place) {
    let total = 0;
    for (const it of items) total += it.weight;
    if (!(w > 0 && h > 0) || total <= 0) {
      for (const it of items) place(it, x, y, 0, 0);
      return;
    }
    const scale = (w * h) / total;
    const n = items.length;
    let i = 0;
    while (i < n) {
      const side = Math.min(w, h), side2 = side * side;
      const largest = items[i].weight * scale;
      let sum = 0, worst = Infinity, j = i;
      while (j < n) {
        const a = items[j].weight * scale, s = sum + a;
        const r = Math.max((side2 * largest) / (s * s), (s * s) / (side2 * a));
        if (j > i && r > worst) break;
        sum = s;
        worst = r;
        j++;
      }
      // The last row takes what is left, so rounding never leaves a gap.
      if (w >= h) {
        const cw = j === n ? w : sum / h;
        let yy = y;
        for (let k = i; k < j; k++) {
          const hk = j === n && k === j - 1 ? y + h - yy : (items[k].weight * scale) / cw;
          place(items[k], x, yy, cw, hk);
          yy += hk;
        }
        x += cw;
        w -= cw;
      } else {
        const rh = j === n ? h : sum / w;
        let xx = x;
        for (let k = i; k < j; k++) {
          const wk = j === n && k === j - 1 ? x + w - xx : (items[k].weight * scale) / rh;
          place(items[k], xx, y, wk, rh);
          xx += wk;
        }
        y += rh;
        h -= rh;
      }
      i = j;
    }
  }

  // ---- drawing ----------------------------------------------------------

  function box(x, y, w, h) {
    // A 1px gap between neighbours, except for slivers that would vanish.
    const gw = w > 2 ? w - 1 : w, gh = h > 2 ? h - 1 : h;
    return "left:" + x.toFixed(1) + "px;top:" + y.toFixed(1) + "px;width:" +
      gw.toFixed(1) + "px;height:" + gh.toFixed(1) + "px";
  }
  function baseName(path) {
    const s = String(path);
    return s.slice(s.lastIndexOf("/") + 1);
  }
  function fileHtml(i, x, y, w, h) {
    const f = files[i];
    const label = w > 70 && h > 14 ? esc(baseName(f.path)) : "";
    return '<div class="f t-' + known(TIERS, f.tier) + " u-" + known(USAGES, f.usage) +
      '" data-i="' + i + '" data-path="' + esc(f.path) + '" style="' + box(x, y, w, h) + '">' +
      label + "</div>";
  }
  function frameHtml(start, end, x, y, w, h) {
    return '<div class="g" data-n="' + end.id + '" style="' + box(x, y, w, h) +
      '"><div class="h" data-n="' + end.id + '" style="left:0;right:0;top:0">' +
      esc(chainLabel(start, end)) + " · " + human(end.bytes) + "</div></div>";
  }

  // Appends the elements of `start`'s subtree (frames before their contents,
  // so contents paint on top) to `out`; returns nothing, counts in `stats`.
  function layoutNode(start, x, y, w, h, isRoot, out, stats) {
    const end = chainEnd(start);
    if (!isRoot && w >= 36 && h >= 30) {
      out.push(frameHtml(start, end, x, y, w, h));
      stats.frames++;
      x += 1;
      y += HEADER;
      w -= 2;
      h -= HEADER + 1;
    }
    squarify(end.children, x, y, w, h, (c, cx, cy, cw, ch) => {
      if (c.file !== undefined) {
        out.push(fileHtml(c.file, cx, cy, cw, ch));
        stats.rects++;
      } else {
        layoutNode(c, cx, cy, cw, ch, false, out, stats);
      }
    });
  }

  const map = $("map");
  let zoom = chainEnd(tree);
  let colour = "tier";
  let timings = { parse_ms: parseMs, tree_ms: treeMs };

  function draw() {
    const start = performance.now();
    const out = [], stats = { rects: 0, frames: 0 };
    layoutNode(zoom, 0, 0, map.clientWidth, map.clientHeight, true, out, stats);
    const laidOut = performance.now();
    map.innerHTML = out.join("");
    void map.offsetHeight; // force style and layout so the time includes them
    const done = performance.now();
    timings = Object.assign({}, timings, {
      layout_ms: laidOut - start, dom_ms: done - laidOut, draw_ms: done - start,
    });
    drawCrumbs();
    drawLegend();
    publish(stats);
    // The frame after this one has been painted: time to a visible treemap.
    requestAnimationFrame(() => setTimeout(() => {
      timings.paint_ms = performance.now() - start;
      publish(stats);
    }, 0));
  }

  function ancestors(n) {
    const list = [];
    for (; n; n = n.parent) list.unshift(n);
    return list;
  }

  function drawCrumbs() {
    const list = ancestors(zoom);
    $("crumbs").innerHTML = list.map((n, k) => k === list.length - 1
      ? '<span class="here">' + esc(n.name) + "</span> <span class=\"note\">" + human(n.bytes) + ", " + n.count.toLocaleString("en-US") + " files</span>"
      : '<a data-n="' + n.id + '">' + esc(n.name) + "</a>").join(" › ");
    $("up").disabled = zoom === chainEnd(tree);
  }

  function drawLegend() {
    const keys = colour === "tier" ? TIERS : USAGES;
    const tally = colour === "tier" ? zoom.tier : zoom.usage;
    $("legend").innerHTML = keys.map((k) => {
      const t = tally[k] || { files: 0, bytes: 0 };
      return '<span><span class="sw ' + (colour === "tier" ? "t-" : "u-") + k + '"></span>' + k +
        ' <span class="n">' + human(t.bytes) + " · " + t.files.toLocaleString("en-US") + " files</span></span>";
    }).join("") + '<span class="n">area = bytes; click to zoom in</span>';
  }

  function zoomTo(n) {
    const target = chainEnd(n);
    if (target === zoom) return;
    zoom = target;
    hideTip();
    draw();
  }
  function zoomOut() {
    let n = zoom.parent;
    while (n && chainEnd(n) === zoom) n = n.parent;
    if (n) zoomTo(n);
  }
  // A click on a file zooms one level: into the child of the zoomed node
  // that holds it (nothing when the file sits directly in the zoomed node).
  function zoomToward(i) {
    let n = fileParent[i];
    if (n === zoom) return;
    while (n.parent && n.parent !== zoom) n = n.parent;
    if (n.parent === zoom) zoomTo(n);
  }

  // ---- tooltip ----------------------------------------------------------

  const tip = $("tip");
  function row(k, v) {
    return "<tr><td>" + esc(k) + "</td><td>" + v + "</td></tr>";
  }
  function fileTip(i) {
    const f = files[i];
    const g = groups[f.group] || {};
    return '<div class="p">' + esc(f.path) + "</div><table>" +
      row("module", esc(f.module || "–")) +
      row("distribution", esc(f.distribution || "–")) +
      row("root", esc(f.root)) +
      row("bytes", exact(f.bytes) + " (" + human(f.bytes) + "), " + esc(f.kind)) +
      row("tier", '<span class="sw t-' + known(TIERS, f.tier) + '"></span>' + esc(f.tier)) +
      row("usage", '<span class="sw u-' + known(USAGES, f.usage) + '"></span>' + esc(f.usage) +
        (f.usage_reason ? " — " + esc(f.usage_reason) : "")) +
      row("group", esc(g.name || "–") + (g.prefetch ? " (prefetched at init)" : "")) +
      row("why this tier", esc(g.reason || "–")) + "</table>";
  }
  function nodeTip(n) {
    const parts = (tally, keys) => keys.filter((k) => tally[k])
      .map((k) => esc(k) + " " + human(tally[k].bytes)).join(", ");
    return '<div class="p">' + esc(ancestors(n).slice(1).map((a) => a.name).join(" › ")) + "</div><table>" +
      row("bytes", exact(n.bytes) + " (" + human(n.bytes) + ")") +
      row("files", n.count.toLocaleString("en-US")) +
      row("tiers", parts(n.tier, TIERS)) +
      row("usage", parts(n.usage, USAGES)) + "</table>";
  }
  function hideTip() {
    tip.style.display = "none";
  }
  map.addEventListener("mousemove", (e) => {
    const el = e.target.closest("[data-i],[data-n]");
    if (!el) return hideTip();
    tip.innerHTML = el.dataset.i !== undefined ? fileTip(+el.dataset.i) : nodeTip(nodes[+el.dataset.n]);
    tip.style.display = "block";
    const pad = 14, r = tip.getBoundingClientRect();
    const left = e.clientX + pad + r.width > innerWidth ? e.clientX - pad - r.width : e.clientX + pad;
    const top = e.clientY + pad + r.height > innerHeight ? e.clientY - pad - r.height : e.clientY + pad;
    tip.style.left = Math.max(0, left) + "px";
    tip.style.top = Math.max(0, top) + "px";
  });
  map.addEventListener("mouseleave", hideTip);
  map.addEventListener("click", (e) => {
    const el = e.target.closest("[data-i],[data-n]");
    if (!el) return;
    if (el.dataset.i !== undefined) zoomToward(+el.dataset.i);
    else zoomTo(nodes[+el.dataset.n]);
  });
  $("crumbs").addEventListener("click", (e) => {
    const a = e.target.closest("[data-n]");
    if (a) zoomTo(nodes[+a.dataset.n]);
  });
  $("up").addEventListener("click", zoomOut);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" || e.key === "Backspace") zoomOut();
  });
  for (const id of ["colour-tier", "colour-usage"]) {
    $(id).addEventListener("change", (e) => {
      colour = e.target.value;
      map.className = "by-" + colour; // CSS recolours; no redraw needed
      drawLegend();
      publish(null);
    });
  }
  let resizeTimer = 0;
  addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(draw, 120);
  });

  // ---- summary panel ----------------------------------------------------

  function setBar(id, used, limit) {
    const bar = $(id);
    if (!(limit > 0)) {
      bar.style.display = "none";
      return;
    }
    const ratio = used / limit;
    bar.firstElementChild.style.width = Math.min(100, 100 * ratio).toFixed(1) + "%";
    bar.className = "bar" + (ratio > 1 ? " over" : ratio > 0.9 ? " warn" : "");
  }

  function fillSize() {
    const used = Number(emitted.zip_unzipped_bytes || 0);
    $("zip-unzipped").textContent = exact(used);
    $("zip-limit").textContent = exact(LAMBDA_UNZIPPED_LIMIT);
    setBar("zip-bar", used, LAMBDA_UNZIPPED_LIMIT);
    const left = LAMBDA_UNZIPPED_LIMIT - used;
    $("zip-note").textContent = human(used) + " = " + pct(used, LAMBDA_UNZIPPED_LIMIT) + " of the limit; " +
      (left >= 0 ? human(left) + " to spare" : human(-left) + " OVER") +
      ". deployment.zip is " + human(emitted.zip_bytes) + " zipped; the plan kept local files under " +
      human(p.local_limit) + ".";
  }

  function fillCold() {
    const cold = Number(p.cold_start_ms || 0), budget = p.max_latency_ms;
    $("cold-start").textContent = ms(cold);
    $("cold-budget").textContent = budget == null ? "(no latency budget set)" : "of " + ms(budget) + " budget";
    setBar("cold-bar", cold, budget == null ? 0 : Number(budget));
    $("first-invocation").textContent = "expected extra time on a container's first invocation: " +
      ms(p.first_invocation_ms);
  }

  function fillCost() {
    const c = p.cost || {};
    const rows = [
      ["storage", c.storage_usd], ["requests and reads", c.requests_and_reads_usd],
      ["EFS fixed", c.efs_fixed_usd], ["billed INIT", c.billed_init_usd],
    ];
    $("cost").innerHTML = rows.map(([k, v]) => "<tr><td>" + k + "</td><td>" + usd(v) + "</td></tr>").join("") +
      '<tr class="total"><td>total per month</td><td id="total-usd">' + usd(c.total_usd) + "</td></tr>";
  }

  function fillTiers() {
    const perTier = p.per_tier || [];
    const head = "<tr><th>tier</th><th>files</th><th>bytes</th><th>cold ms</th><th>$/month</th></tr>";
    $("tiers").innerHTML = head + perTier.map((t) => {
      const k = known(TIERS, t.tier), n = (tree.tier[k] || { files: 0 }).files;
      return '<tr data-tier="' + esc(t.tier) + '"><td><span class="sw t-' + k + '"></span>' + esc(t.tier) +
        "</td><td>" + n.toLocaleString("en-US") + '</td><td title="' + exact(t.bytes) + '">' + human(t.bytes) +
        "</td><td>" + Number(t.cold_start_ms || 0).toFixed(1) + "</td><td>" + usd(t.monthly_usd) + "</td></tr>";
    }).join("");
    $("emitted").textContent = "emitted: deployment.zip " + human(emitted.zip_bytes) + " zipped; " +
      (emitted.bundles || 0) + " S3 bundles (" + human(emitted.s3_bytes) + "); " + (emitted.efs_files || 0) +
      " EFS files (" + human(emitted.efs_bytes) + "); " + (emitted.pyc_compiled || 0) + " .pyc compiled.";
  }

  function fillUsages() {
    const head = "<tr><th>usage</th><th>files</th><th>bytes</th></tr>";
    $("usages").innerHTML = head + USAGES.map((k) => {
      const t = tree.usage[k] || { files: 0, bytes: 0 };
      return '<tr><td><span class="sw u-' + k + '"></span>' + k + "</td><td>" + t.files.toLocaleString("en-US") +
        "</td><td>" + human(t.bytes) + "</td></tr>";
    }).join("");
  }

  function fillSummary() {
    $("handler").textContent = plan.handler || "–";
    fillSize();
    fillCold();
    fillCost();
    fillTiers();
    fillUsages();
    $("regime").textContent = p.regime || "";
    $("status").textContent = p.status || "";
  }

  // ---- what tests read --------------------------------------------------

  let lastStats = { rects: 0, frames: 0 };
  function publish(stats) {
    if (stats) lastStats = stats;
    const c = p.cost || {};
    window.caiosReport = {
      files: files.length,
      rects: lastStats.rects,
      frames: lastStats.frames,
      colour,
      zoom: ancestors(zoom).map((n) => n.name),
      totals: {
        zip_unzipped_bytes: Number(emitted.zip_unzipped_bytes || 0),
        lambda_limit_bytes: LAMBDA_UNZIPPED_LIMIT,
        cold_start_ms: Number(p.cold_start_ms || 0),
        max_latency_ms: p.max_latency_ms == null ? null : Number(p.max_latency_ms),
        total_usd: Number(c.total_usd || 0),
        cost: c,
        bytes: p.bytes || {},
        tiers: tree.tier,
        usages: tree.usage,
      },
      timings,
    };
  }

  fillSummary();
  draw();
})();
