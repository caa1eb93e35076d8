// etlx docs: renders target/docs/data.js. No framework and no network: the page opens from
// disk. The DAG layout comes computed from etlx; this script only draws the neighbourhood of
// the node being read, so its cost does not grow with the project.
(function () {
  "use strict";
  var started = performance.now();
  var errors = [];
  function reportError(message) {
    errors.push(String(message));
    document.body.dataset.errors = String(errors.length);
    var box = document.getElementById("errors");
    box.hidden = false;
    box.textContent = "Page error: " + errors.join(" | ");
  }
  window.addEventListener("error", function (e) { reportError(e.message); });
  window.addEventListener("unhandledrejection", function (e) { reportError(e.reason); });
  document.body.dataset.errors = "0";

  var D = window.ETLX_DOCS;
  if (!D) { reportError("data.js is missing: run `etlx docs generate`"); return; }
  var nodes = D.nodes;
  var byId = {};
  nodes.forEach(function (n, i) { n.index = i; byId[n.id] = n; });
  var children = nodes.map(function () { return []; });
  nodes.forEach(function (n, i) { n.parents.forEach(function (p) { children[p].push(i); }); });
  var lastRun = {};
  if (D.run) D.run.results.forEach(function (r) { lastRun[r.id] = r; });
  var readers = null; // "node index/column" -> columns reading it; built on first use

  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "text") e.textContent = attrs[k];
      else if (k === "html") e.innerHTML = attrs[k];
      else if (k.slice(0, 2) === "on") e.addEventListener(k.slice(2), attrs[k]);
      else e.setAttribute(k, attrs[k]);
    }
    (kids || []).forEach(function (c) { if (c != null) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return e;
  }
  function svgEl(tag, attrs) {
    var e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }
  function link(n, label) { return el("a", { href: "#!node/" + encodeURIComponent(n.id), text: label || n.name }); }
  function badge(text, cls) { return el("span", { "class": "badge " + (cls || ""), text: text }); }
  function status(s) { return el("span", { "class": "status-" + String(s).replace(/ /g, "-"), text: s }); }

  // ---- sidebar and search ----
  var TYPES = ["model", "seed", "snapshot", "source", "test"];
  var SIDEBAR_LIMIT = 300;
  function sidebar(query) {
    var side = document.getElementById("sidebar");
    side.textContent = "";
    var q = (query || "").trim().toLowerCase();
    var hits = q ? search(q) : null;
    TYPES.forEach(function (type) {
      var list = (hits || nodes).filter(function (n) { return n.type === type; });
      if (!list.length) return;
      side.appendChild(el("h4", { text: type + "s (" + list.length + ")" }));
      list.slice(0, SIDEBAR_LIMIT).forEach(function (n) {
        side.appendChild(el("a", { href: "#!node/" + encodeURIComponent(n.id), title: n.id, text: n.name, "data-id": n.id }));
      });
      if (list.length > SIDEBAR_LIMIT) side.appendChild(el("div", { "class": "more", text: (list.length - SIDEBAR_LIMIT) + " more: search to narrow" }));
    });
    var macros = D.macros.filter(function (m) { return !q || m.name.toLowerCase().indexOf(q) >= 0; });
    if (macros.length) {
      side.appendChild(el("h4", { text: "macros (" + macros.length + ")" }));
      macros.slice(0, SIDEBAR_LIMIT).forEach(function (m) {
        side.appendChild(el("a", { href: "#!macro/" + encodeURIComponent(m.id), text: m.name }));
      });
    }
    if (q && !side.childNodes.length) side.appendChild(el("div", { "class": "more", text: "Nothing matches “" + query + "”." }));
  }
  // Names first (prefix, then anywhere), then columns, paths and descriptions.
  function search(q) {
    var scored = [];
    nodes.forEach(function (n) {
      var name = n.name.toLowerCase(), score = -1;
      if (name.indexOf(q) === 0) score = 0;
      else if (name.indexOf(q) > 0) score = 1;
      else if (n.columns.some(function (c) { return c.name.toLowerCase().indexOf(q) >= 0; })) score = 2;
      else if (String(n.path || "").toLowerCase().indexOf(q) >= 0 || String(n.description || "").toLowerCase().indexOf(q) >= 0) score = 3;
      if (score >= 0) scored.push([score, n]);
    });
    scored.sort(function (a, b) { return a[0] - b[0] || (a[1].name < b[1].name ? -1 : 1); });
    return scored.map(function (s) { return s[1]; });
  }

  // ---- the DAG around a node ----
  var BOX_W = 170, BOX_H = 26, COL = 205, ROW = 34, LIMIT = 250;
  function neighbourhood(start, up, down) {
    var depth = {}; depth[start] = 0;
    var order = [start];
    function walk(next, limit, sign) {
      var frontier = [start];
      for (var d = 1; d <= limit && frontier.length; d++) {
        var grown = [];
        frontier.forEach(function (i) {
          next(i).forEach(function (j) {
            // Tests are listed on the page; in the graph they would outnumber the models.
            if (nodes[j].type === "test" && j !== start) return;
            if (depth[j] === undefined && order.length < LIMIT) { depth[j] = sign * d; order.push(j); grown.push(j); }
          });
        });
        frontier = grown;
      }
    }
    walk(function (i) { return nodes[i].parents; }, up, -1);
    walk(function (i) { return children[i]; }, down, 1);
    return order;
  }
  function dag(start, up, down) {
    var shown = neighbourhood(start, up, down);
    var inSet = {}; shown.forEach(function (i) { inSet[i] = true; });
    var ranks = Array.from(new Set(shown.map(function (i) { return nodes[i].rank; }))).sort(function (a, b) { return a - b; });
    var column = {}; ranks.forEach(function (r, c) { column[r] = c; });
    var byColumn = ranks.map(function () { return []; });
    shown.forEach(function (i) { byColumn[column[nodes[i].rank]].push(i); });
    var tallest = Math.max.apply(null, byColumn.map(function (c) { return c.length; }));
    var at = {};
    byColumn.forEach(function (list, c) {
      list.sort(function (a, b) { return nodes[a].order - nodes[b].order; });
      var offset = (tallest - list.length) * ROW / 2;
      list.forEach(function (i, k) { at[i] = { x: 10 + c * COL, y: 10 + offset + k * ROW }; });
    });
    var width = 20 + (ranks.length - 1) * COL + BOX_W, height = 20 + tallest * ROW;
    var svg = svgEl("svg", { "class": "dag", id: "dag", width: width, height: height, viewBox: "0 0 " + width + " " + height });
    shown.forEach(function (i) {
      nodes[i].parents.forEach(function (p) {
        if (!inSet[p]) return;
        var a = at[p], b = at[i], x1 = a.x + BOX_W, y1 = a.y + BOX_H / 2, x2 = b.x, y2 = b.y + BOX_H / 2, mid = (x1 + x2) / 2;
        svg.appendChild(svgEl("path", { d: "M" + x1 + "," + y1 + " C" + mid + "," + y1 + " " + mid + "," + y2 + " " + x2 + "," + y2 }));
      });
    });
    shown.forEach(function (i) {
      var n = nodes[i], p = at[i];
      var g = svgEl("g", { "class": "dag-node " + n.type + (i === start ? " selected" : ""), "data-id": n.id, transform: "translate(" + p.x + "," + p.y + ")" });
      g.appendChild(svgEl("rect", { width: BOX_W, height: BOX_H, rx: 5 }));
      var label = svgEl("text", { x: 8, y: 17 });
      label.textContent = n.name.length > 23 ? n.name.slice(0, 22) + "…" : n.name;
      var title = svgEl("title", {}); title.textContent = n.id;
      g.appendChild(label); g.appendChild(title);
      g.addEventListener("click", function () { location.hash = "#!node/" + encodeURIComponent(n.id); });
      svg.appendChild(g);
    });
    return { svg: svg, count: shown.length, capped: shown.length >= LIMIT, at: at[start] };
  }

  // ---- column lineage ----
  function upstreamTree(nodeIndex, column, depth, seen) {
    var n = nodes[nodeIndex];
    var col = n.columns.find(function (c) { return c.name.toLowerCase() === column.toLowerCase(); });
    var ul = el("ul", { "class": "lineage" });
    if (!col) return ul;
    if (col.unknown) ul.appendChild(el("li", { "class": "muted", text: "inputs unknown: " + col.unknown }));
    (col.upstream || []).forEach(function (u) {
      var up = nodes[u[0]], key = u[0] + "/" + u[1];
      var li = el("li", { "class": "lineage-edge", "data-node": up.id, "data-column": u[1] },
        [badge(u[2], u[2]), link(up, up.name + "." + u[1])]);
      if (depth > 0 && !seen[key]) { seen[key] = true; li.appendChild(upstreamTree(u[0], u[1], depth - 1, seen)); }
      ul.appendChild(li);
    });
    return ul;
  }
  function downstreamOf(nodeIndex, column) {
    if (!readers) {
      readers = {};
      nodes.forEach(function (n, i) {
        n.columns.forEach(function (c) {
          (c.upstream || []).forEach(function (u) {
            var key = u[0] + "/" + u[1].toLowerCase();
            (readers[key] = readers[key] || []).push([i, c.name, u[2]]);
          });
        });
      });
    }
    return readers[nodeIndex + "/" + column.toLowerCase()] || [];
  }
  function downstreamTree(nodeIndex, column, depth, seen) {
    var ul = el("ul", { "class": "lineage" });
    downstreamOf(nodeIndex, column).forEach(function (d) {
      var down = nodes[d[0]], key = d[0] + "/" + d[1];
      var li = el("li", { "class": "lineage-edge", "data-node": down.id, "data-column": d[1] },
        [badge(d[2], d[2]), link(down, down.name + "." + d[1])]);
      if (depth > 0 && !seen[key]) { seen[key] = true; li.appendChild(downstreamTree(d[0], d[1], depth - 1, seen)); }
      ul.appendChild(li);
    });
    return ul;
  }

  // ---- pages ----
  function sqlTabs(n) {
    var kinds = [["compiled", "Compiled SQL"], ["raw", "Source"]].filter(function (k) { return n[k[0]]; });
    if (!kinds.length) return null;
    var pre = el("pre", { id: "sql", text: n[kinds[0][0]] });
    var buttons = kinds.map(function (k, i) {
      return el("button", { "class": i ? "" : "on", text: k[1], onclick: function (e) {
        buttons.forEach(function (b) { b.className = ""; });
        e.target.className = "on"; pre.textContent = n[k[0]];
      } });
    });
    return el("div", {}, [el("div", { "class": "tabs" }, buttons), pre]);
  }
  function nodePage(n, params) {
    var main = [];
    var run = lastRun[n.id];
    main.push(el("h1", {}, [n.name, " ", badge(n.type)]));
    main.push(el("p", { "class": "muted" }, [n.relation || "", n.relation ? " · " : "", n.path || "",
      n.materialized ? " · " + n.materialized : "",
      run ? el("span", {}, [" · last run: ", status(run.status), run.seconds != null ? " in " + run.seconds.toFixed(2) + "s" : ""]) : null]));
    if (n.description) main.push(el("p", { text: n.description }));
    if (n.tags && n.tags.length) main.push(el("p", {}, n.tags.map(function (t) { return badge("#" + t); })));
    if (run && run.message && run.status !== "success" && run.status !== "pass") main.push(el("pre", { text: run.message }));

    var up = +(params.up || 2), down = +(params.down || 2);
    var drawn = dag(n.index, up, down);
    var depthLink = function (u, d, text) { return el("a", { href: "#!node/" + encodeURIComponent(n.id) + "?up=" + u + "&down=" + d, text: text }); };
    main.push(el("h2", {}, ["Lineage graph ", el("span", { "class": "muted" }, [
      " " + drawn.count + " nodes" + (drawn.capped ? " (capped)" : "") + " · ",
      depthLink(up + 1, down, "more upstream"), " · ", depthLink(up, down + 1, "more downstream"), " · ", depthLink(1, 1, "less")])]));
    var wrap = el("div", { "class": "dag-wrap" }, [drawn.svg]);
    main.push(wrap);
    // Once on screen: scroll the graph so the node being read is in the middle.
    setTimeout(function () {
      wrap.scrollLeft = drawn.at.x + BOX_W / 2 - wrap.clientWidth / 2;
      wrap.scrollTop = drawn.at.y + BOX_H / 2 - wrap.clientHeight / 2;
    }, 0);

    if (n.columns.length) {
      main.push(el("h2", { text: "Columns (" + n.columns.length + ")" }));
      var rows = n.columns.map(function (c) {
        var tests = (n.tests || []).map(function (t) { return nodes[t]; })
          .filter(function (t) { return t.column_name && t.column_name.toLowerCase() === c.name.toLowerCase(); })
          .map(function (t) { var r = lastRun[t.id]; return el("div", {}, [link(t, t.name.split("_" + n.name)[0] || t.name), r ? el("span", {}, [" ", status(r.status)]) : null]); });
        var lineageCell = el("td", { "class": "column-lineage" });
        if (c.upstream || c.unknown) lineageCell.appendChild(upstreamTree(n.index, c.name, 0, {}));
        var more = el("a", { href: "javascript:void 0", text: "trace", onclick: function () {
          lineageCell.textContent = "";
          lineageCell.appendChild(el("div", { "class": "muted", text: "upstream" }));
          lineageCell.appendChild(upstreamTree(n.index, c.name, 8, {}));
          lineageCell.appendChild(el("div", { "class": "muted", text: "downstream" }));
          lineageCell.appendChild(downstreamTree(n.index, c.name, 8, {}));
        } });
        return el("tr", { "data-column": c.name }, [el("td", {}, [el("b", { text: c.name })]), el("td", { text: c.type || "" }),
          el("td", { text: c.description || "" }), el("td", {}, tests), lineageCell, el("td", {}, [more])]);
      });
      main.push(el("table", { id: "columns" }, [el("thead", {}, [el("tr", {}, ["Column", "Type", "Description", "Tests", "Comes from", ""].map(function (h) { return el("th", { text: h }); }))]), el("tbody", {}, rows)]));
    }
    var tests = (n.tests || []).map(function (t) { return nodes[t]; });
    if (tests.length) {
      main.push(el("h2", { text: "Tests (" + tests.length + ")" }));
      main.push(el("table", {}, tests.map(function (t) {
        var r = lastRun[t.id];
        return el("tr", {}, [el("td", {}, [link(t)]), el("td", { text: t.column_name || "" }), el("td", {}, [r ? status(r.status) : "not run"]),
          el("td", { text: r && r.failures ? r.failures + " failing rows" : "" })]);
      })));
    }
    var sql = sqlTabs(n);
    if (sql) { main.push(el("h2", { text: "SQL" })); main.push(sql); }
    if (n.config) main.push(el("h2", { text: "Config" }), el("pre", { text: JSON.stringify(n.config, null, 2) }));
    return main;
  }
  function macroPage(m) {
    return [el("h1", {}, [m.name, " ", badge("macro")]), el("p", { "class": "muted", text: m.path + ":" + m.line }),
      el("pre", { text: m.sql || "(file not readable)" })];
  }
  function overview() {
    var counts = {};
    nodes.forEach(function (n) { counts[n.type] = (counts[n.type] || 0) + 1; });
    var out = [el("h1", { text: D.project }), el("p", { "class": "muted", text: "etlx " + D.version + " · " + D.adapter + " · generated " + D.generated_at })];
    out.push(el("div", { "class": "cards" }, Object.keys(counts).sort().map(function (k) { return el("div", { "class": "card" }, [el("b", { text: counts[k] }), k + "s"]); })
      .concat([el("div", { "class": "card" }, [el("b", { text: D.macros.length }), "macros"])])));
    if (D.run) out.push(el("p", {}, ["Last run: ", el("a", { href: "#!run", text: D.run.results.length + " nodes in " + Number(D.run.elapsed).toFixed(2) + "s" }), " at " + D.run.generated_at]));
    var leaves = nodes.filter(function (n) { return n.type === "model" && !children[n.index].some(function (c) { return nodes[c].type !== "test"; }); });
    out.push(el("h2", { text: "Final models (" + leaves.length + ")" }));
    out.push(el("ul", {}, leaves.slice(0, 200).map(function (n) { return el("li", {}, [link(n), n.description ? el("span", { "class": "muted", text: " " + n.description }) : null]); })));
    return out;
  }
  function runPage() {
    if (!D.run) return [el("h1", { text: "Last run" }), el("p", { text: "No run_results.json yet: run `etlx build`, then `etlx docs generate`." })];
    var r = D.run, counts = {};
    r.results.forEach(function (x) { counts[x.status] = (counts[x.status] || 0) + 1; });
    var out = [el("h1", { text: "Last run" }), el("p", { "class": "muted", text: r.generated_at + " · " + Number(r.elapsed).toFixed(2) + "s" })];
    out.push(el("div", { "class": "cards" }, Object.keys(counts).map(function (k) { return el("div", { "class": "card" }, [el("b", { text: counts[k] }), status(k)]); })));
    out.push(el("h2", {}, ["Timeline ", el("span", { "class": "muted", text: "one lane per thread; red outline: the critical path" })]));
    var wrap = el("div", { "class": "gantt-wrap", html: r.gantt });
    wrap.addEventListener("click", function (e) {
      var g = e.target.closest ? e.target.closest("g.bar") : null;
      if (g && byId[g.getAttribute("data-id")]) location.hash = "#!node/" + encodeURIComponent(g.getAttribute("data-id"));
    });
    out.push(wrap);
    out.push(el("h2", { text: "Critical path (" + r.critical.length + ")" }));
    out.push(el("ol", { id: "critical" }, r.critical.map(function (id) {
      var res = lastRun[id], n = byId[id];
      return el("li", {}, [n ? link(n) : id, res && res.seconds != null ? " " + res.seconds.toFixed(2) + "s" : ""]);
    })));
    var tests = r.results.filter(function (x) { var n = byId[x.id]; return n && n.type === "test"; });
    var rank = { fail: 0, error: 1, warn: 2, pass: 3 };
    tests.sort(function (a, b) { return (rank[a.status] || 4) - (rank[b.status] || 4); });
    out.push(el("h2", { text: "Tests (" + tests.length + ")" }));
    out.push(el("table", { id: "test-results" }, tests.map(function (t) {
      return el("tr", {}, [el("td", {}, [status(t.status)]), el("td", {}, [link(byId[t.id])]), el("td", { text: t.failures ? t.failures + " failing rows" : "" }), el("td", { "class": "muted", text: t.status === "pass" ? "" : (t.message || "") })]);
    })));
    return out;
  }

  function route() {
    var t0 = performance.now();
    var hash = decodeURIComponent(location.hash.replace(/^#!?/, ""));
    var query = hash.split("?")[1] || "", params = {};
    query.split("&").forEach(function (kv) { if (kv) params[kv.split("=")[0]] = kv.split("=")[1]; });
    var path = hash.split("?")[0], page;
    if (path.indexOf("node/") === 0 && byId[path.slice(5)]) page = nodePage(byId[path.slice(5)], params);
    else if (path.indexOf("macro/") === 0) {
      var m = D.macros.find(function (x) { return x.id === path.slice(6); });
      page = m ? macroPage(m) : [el("h1", { text: "No such macro" })];
    } else if (path === "run") page = runPage();
    else if (path) page = [el("h1", { text: "Not found" }), el("p", { text: path + " is not in this project." })];
    else page = overview();
    var main = document.getElementById("main");
    main.textContent = "";
    page.forEach(function (p) { if (p) main.appendChild(p); });
    main.scrollTop = 0;
    document.querySelectorAll("aside a.current").forEach(function (a) { a.classList.remove("current"); });
    document.body.dataset.page = path || "overview";
    document.body.dataset.renderMs = String(Math.round(performance.now() - t0));
    document.title = (path ? path.replace(/^node\//, "") + " · " : "") + D.project + " · etlx docs";
  }

  document.getElementById("project").textContent = D.project;
  var box = document.getElementById("search"), pending = null;
  box.addEventListener("input", function () { clearTimeout(pending); pending = setTimeout(function () { sidebar(box.value); }, 80); });
  document.addEventListener("keydown", function (e) { if (e.key === "/" && document.activeElement !== box) { e.preventDefault(); box.focus(); } });
  window.addEventListener("hashchange", route);
  sidebar("");
  route();
  document.body.dataset.loadMs = String(Math.round(performance.now() - started));
  document.body.dataset.ready = "true";
})();
