// hostwatt status page: refreshes the server-rendered numbers from /api/v1/summary and draws
// the charts from /api/v1/history. Polls once a minute, and not at all while the tab is hidden.
(function () {
  "use strict";
  var POLL_MS = 60000;
  var range = ["hour", "day", "week", "month", "year"].indexOf(location.hash.slice(1)) >= 0 ? location.hash.slice(1) : "day";
  var charts = {};
  var timer = null;

  function $(sel) { return document.querySelector(sel); }
  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
  function get(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error(url + ": " + r.status);
      return r.json();
    });
  }
  function setText(sel, text) { var e = $(sel); if (e) e.textContent = text; }
  function fmtW(w) { return w == null ? "–" : w.toFixed(1); }
  function kwh(j) { return j == null ? "–" : (j / 3.6e6).toFixed(2); }

  function refreshNow() {
    return get("api/v1/summary").then(function (s) {
      if (s.wall) {
        setText("#wall-watts", fmtW(s.wall.watts));
        var m = $("#wall-mark");
        if (m) { m.textContent = s.wall.mark; m.className = "mark " + s.wall.mark; }
        setText("#wall-source", s.wall.detail);
      }
      setText("#energy-today", kwh(s.energy_today_joules));
      setText("#energy-month", kwh(s.energy_month_joules));
      setText("#idle-watts", fmtW(s.idle_watts));
      var ic = $("#idle-cost");
      if (ic && s.idle_watts != null && ic.textContent === "not seen idle yet") ic.textContent = "";
      (s.components || []).forEach(function (c) {
        var li = document.querySelector('[data-component="' + CSS.escape(c.component) + '"] b');
        if (li) li.textContent = fmtW(c.watts);
      });
    }).catch(function () {});
  }

  function fetchHistory(names) {
    if (!names.length) return Promise.resolve(null);
    return get("api/v1/history?range=" + range + "&series=" + names.map(encodeURIComponent).join(","));
  }

  // One x axis for all series: the union of bucket times; a missing bucket is null (a gap).
  function align(answers, pick) {
    var ts = {};
    answers.forEach(function (a) { a.points.forEach(function (p) { ts[p[0]] = 1; }); });
    var xs = Object.keys(ts).map(Number).sort(function (a, b) { return a - b; });
    var data = [xs];
    answers.forEach(function (a) {
      var by = {};
      a.points.forEach(function (p) { by[p[0]] = pick(p); });
      data.push(xs.map(function (t) { return t in by ? by[t] : null; }));
    });
    return data;
  }

  // A chart with fewer than two buckets is an empty frame: say why instead.
  function message(el, text) {
    el.innerHTML = "";
    var p = document.createElement("p");
    p.className = "muted nodata";
    p.textContent = text;
    el.appendChild(p);
  }

  function draw(id, opts, data, h, unit) {
    var el = document.getElementById(id);
    if (!el || typeof uPlot === "undefined") return;
    if (charts[id]) { charts[id].destroy(); delete charts[id]; }
    if (data[0].length < 2) {
      message(el, "No data yet for this " + range + ": the chart fills in as hostwatt records (a point every 15 s by default).");
      return;
    }
    opts.scales = opts.scales || {};
    opts.scales.x = { time: true, range: [h.from, h.to] };
    el.innerHTML = "";
    opts.width = el.clientWidth || 600;
    opts.height = 220;
    opts.axes = [{ stroke: css("--muted"), grid: { stroke: css("--line") } },
      { stroke: css("--muted"), grid: { stroke: css("--line") }, label: unit, labelSize: 20 }];
    charts[id] = new uPlot(opts, data, el);
  }

  function drawWatts(list) {
    var comps = list.filter(function (n) { return n.indexOf("component_watts:") === 0; });
    if (list.indexOf("psu_loss_watts") >= 0) comps.push("psu_loss_watts");
    var names = comps.concat(list.indexOf("wall_watts") >= 0 ? ["wall_watts"] : []);
    return fetchHistory(names).then(function (h) {
      if (!h) return;
      var data = align(h.series, function (p) { return p[2]; });
      var n = comps.length;
      // stacked: series i is the sum of components 0..i, drawn top layer first
      var stacked = [data[0]];
      var acc = data[0].map(function () { return 0; });
      for (var i = 0; i < n; i++) {
        acc = acc.map(function (v, k) { return v + (data[i + 1][k] || 0); });
        stacked.push(acc.slice());
      }
      // the colours of the bar and legend above, which list the components in the summary's order
      var legend = Array.prototype.map.call(document.querySelectorAll("#breakdown li"), function (li) {
        return li.getAttribute("data-component");
      });
      function colour(name) {
        var key = name === "psu_loss_watts" ? "psu loss" : name.replace("component_watts:", "");
        var i = legend.indexOf(key);
        return css("--c" + ((i < 0 ? legend.length : i) % 8));
      }
      var series = [{}];
      var order = [];
      for (var j = n - 1; j >= 0; j--) order.push(j);
      var out = [stacked[0]];
      order.forEach(function (j) {
        var c = colour(comps[j]);
        series.push({ label: comps[j].replace("component_watts:", ""), stroke: c, fill: c, width: 0 });
        out.push(stacked[j + 1]);
      });
      if (names.length > n) {
        series.push({ label: "wall", stroke: css("--fg"), width: 1.5 });
        out.push(data[n + 1]);
      }
      draw("chart-watts", { series: series, legend: { show: false }, scales: { y: { range: function (u, lo, hi) { return [0, hi * 1.05 || 1]; } } } }, out, h, "W");
    });
  }

  function drawCpuidle(list) {
    var names = list.filter(function (n) { return n.indexOf("cpuidle_residency_ratio:") === 0; });
    return fetchHistory(names).then(function (h) {
      if (!h) return;
      var data = align(h.series, function (p) { return p[2] * 100; });
      var series = [{}].concat(names.map(function (n, i) {
        return { label: n.split(":")[1] + " %", stroke: css("--c" + (i % 8)), width: 1.5 };
      }));
      draw("chart-cpuidle", { series: series, scales: { y: { range: [0, 100] } } }, data, h, "%");
    });
  }

  var MODE_COLORS = ["--standby", "--idle", "--active"];
  function drawTimelines() {
    var canvases = document.querySelectorAll("canvas.timeline");
    var names = Array.prototype.map.call(canvases, function (c) { return c.getAttribute("data-series"); });
    return fetchHistory(names).then(function (h) {
      if (!h) return;
      h.series.forEach(function (a, i) {
        var cv = canvases[i];
        var w = cv.clientWidth || 200;
        cv.width = w;
        var ctx = cv.getContext("2d");
        ctx.clearRect(0, 0, w, cv.height);
        var span = h.to - h.from;
        var ups = 0;
        a.points.forEach(function (p, k) {
          var x0 = (p[0] - h.from) / span * w;
          // a bar reaches the next bucket when that one follows within two steps: samples
          // coarser than the buckets (15 s into 10 s) leave empty buckets, not gaps in time
          var next = a.points[k + 1];
          var end = next && next[0] - p[0] <= 2 * a.step_seconds ? next[0] : p[0] + a.step_seconds;
          var x1 = (end - h.from) / span * w;
          ctx.fillStyle = css(MODE_COLORS[Math.round(p[2])] || "--muted");
          ctx.fillRect(x0, 0, Math.max(1, x1 - x0), cv.height);
          // a spin-up: standby in one bucket, spinning in the next
          if (k > 0 && a.points[k - 1][1] < 0.5 && p[3] >= 0.5) ups++;
        });
        var days = span / 86400;
        cv.title = ups + " spin-ups in the last " + range;
        var cell = cv.closest("tr") && cv.closest("tr").querySelector("td.spinups .per-day");
        if (cell) cell.textContent = days >= 1 ? (ups / days).toFixed(1) + "/day" : ups + " this hour";
      });
    });
  }

  function refreshCharts() {
    return get("api/v1/series").then(function (s) {
      if (!s.enabled) {
        Array.prototype.forEach.call(document.querySelectorAll(".chart"), function (el) {
          message(el, "History is off ([history] enabled = false): no charts.");
        });
        return;
      }
      return Promise.all([drawWatts(s.series), drawCpuidle(s.series), drawTimelines()]);
    }).catch(function () {});
  }

  function tick() {
    if (document.visibilityState !== "visible") return;
    refreshNow();
    refreshCharts();
  }

  function start() {
    if (timer === null) timer = setInterval(tick, POLL_MS);
  }
  function stop() {
    if (timer !== null) { clearInterval(timer); timer = null; }
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { tick(); start(); } else { stop(); }
  });
  Array.prototype.forEach.call(document.querySelectorAll("#ranges button"), function (b) {
    b.addEventListener("click", function () {
      range = b.getAttribute("data-range");
      window.history.replaceState(null, "", "#" + range);
      Array.prototype.forEach.call(document.querySelectorAll("#ranges button"), function (o) {
        o.className = o === b ? "on" : "";
      });
      refreshCharts();
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("#ranges button"), function (o) {
    o.className = o.getAttribute("data-range") === range ? "on" : "";
  });
  window.addEventListener("resize", function () { refreshCharts(); });
  refreshCharts();
  if (document.visibilityState === "visible") start();
})();
