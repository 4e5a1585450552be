// The statistics page's charts, drawn with uPlot from the JSON the page carries
// (#stats-data); no inline script, so the page's CSP stays strict.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("stats-data").textContent);
  const COLORS = { blue: "#1570ef", green: "#12b76a", orange: "#f79009", purple: "#7a5af8", grey: "#98a2b3", red: "#d92d20" };
  const DAY = 86400;
  const utc = (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC");

  // align: 0 centred on its x; -1 / 1 the left / right half, for two series side by side
  function bars(label, values, color, align) {
    const size = align ? [0.38, 30] : [0.7, 60];
    return { label, stroke: color, fill: color + "cc", width: 1, paths: uPlot.paths.bars({ size, align: align || 0 }), points: { show: false } };
  }
  function line(label, color, extra) {
    return Object.assign({ label, stroke: color, width: 2, points: { show: false } }, extra || {});
  }
  const round = (digits) => (u, v) => (v == null ? "–" : (+v).toFixed(digits));

  function dayChart(series, x, ys) {
    return {
      opts: {
        tzDate: utc,
        scales: { x: { time: true, range: (u, min, max) => [min - DAY / 2, max + DAY / 2] }, y: { range: (u, min, max) => [0, Math.max(1, max) * 1.1] } },
        axes: [{}, { size: 40 }],
        series: [{ label: "day", value: "{YYYY}-{MM}-{DD}" }, ...series],
      },
      data: [x, ...ys],
    };
  }

  function categoryChart(names, label, values, color, xLabel) {
    const idx = names.map((_, i) => i);
    return {
      opts: {
        scales: { x: { time: false, range: () => [-0.5, Math.max(names.length, 1) - 0.5] }, y: { range: (u, min, max) => [0, Math.max(1, max) * 1.1] } },
        axes: [
          { splits: () => idx, values: (u, splits) => splits.map((i) => shorten(String(names[i] ?? ""))), label: xLabel, gap: 4 },
          { size: 40 },
        ],
        series: [{ label: xLabel, value: (u, i) => (i == null ? "–" : names[i]) }, bars(label, values, color)],
      },
      data: [idx, values],
    };
  }

  function shorten(text) {
    return text.length > 18 ? "…" + text.slice(-17) : text;
  }

  function timeChart(t, series, ys, yLabel) {
    return {
      opts: {
        scales: { y: { range: (u, min, max) => [0, Math.max(1, max || 0) * 1.1] } },
        axes: [{}, { size: 50, label: yLabel }],
        series: [{}, ...series],
      },
      data: [t, ...ys],
    };
  }

  const d = data.daily, nb = data.notebooks, ps = data.per_student, sv = data.servers, m = data.machine;
  const charts = {
    opens: dayChart([bars("opens", d.opens, COLORS.blue), line("cells run", COLORS.orange, { scale: "y" })], d.t, [d.opens, d.executions]),
    students: dayChart([bars("active", d.active, COLORS.green, -1), bars("new", d.new, COLORS.purple, 1)], d.t, [d.active, d.new]),
    notebooks: categoryChart(nb.names, "students", nb.students, COLORS.blue, "notebook"),
    "per-student": categoryChart(ps.notebooks.map(String), "students", ps.students, COLORS.green, "notebooks opened"),
    servers: timeChart(sv.t, [line("servers", COLORS.blue, { value: round(1) }), line("kernels", COLORS.green, { value: round(1) }), line("busy kernels", COLORS.red, { value: round(1) })], [sv.servers, sv.kernels, sv.busy]),
    cpu: timeChart(m.t, [line("load (1 min)", COLORS.orange, { value: round(2) }), line("CPU %", COLORS.blue, { scale: "%", value: round(0) })], [m.load, m.cpu]),
    memory: timeChart(m.t, [line("used GiB", COLORS.purple, { value: round(2), fill: COLORS.purple + "22" }), line("total GiB", COLORS.grey, { dash: [6, 4], value: round(1) })], [m.mem_used, m.mem_total], "GiB"),
    disk: timeChart(m.t, [line("free GiB", COLORS.green, { value: round(1), fill: COLORS.green + "22" }), line("total GiB", COLORS.grey, { dash: [6, 4], value: round(1) })], [m.disk_free, m.disk_total], "GiB"),
  };
  // The CPU chart's second scale (percent) on the right.
  charts.cpu.opts.scales["%"] = { range: [0, 100] };
  charts.cpu.opts.axes.push({ scale: "%", side: 1, size: 45, grid: { show: false }, values: (u, v) => v.map((x) => x + "%") });

  const drawn = [];
  for (const el of document.querySelectorAll(".chart[data-chart]")) {
    const chart = charts[el.dataset.chart];
    if (!chart) continue;
    if (!chart.data[0].length) {
      const empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = "Nothing recorded yet.";
      el.appendChild(empty);
      continue;
    }
    const opts = Object.assign({ width: el.clientWidth || 480, height: 240, legend: { live: true } }, chart.opts);
    drawn.push([el, new uPlot(opts, chart.data, el)]);
  }
  let pending = null;
  window.addEventListener("resize", () => {
    clearTimeout(pending);
    pending = setTimeout(() => drawn.forEach(([el, plot]) => plot.setSize({ width: el.clientWidth, height: 240 })), 100);
  });
  document.body.dataset.chartsDrawn = String(drawn.length);
})();
