// Live class view: one card per student, fed by server-sent events.
// Everything a student wrote goes into the page as text (textContent), never as HTML.
(function () {
  "use strict";
  const grid = document.getElementById("live-grid");
  if (!grid) return;
  const stateLine = document.getElementById("live-state");
  const xsrfMeta = document.querySelector('meta[name="coursehub-xsrf"]');
  const xsrf = xsrfMeta ? xsrfMeta.content : "";
  const path = grid.dataset.path;
  const LABELS = {
    not_started: "not started",
    working: "working",
    error: "error",
    finished: "finished",
  };
  let students = [];
  const states = new Map();
  let filter = "all";
  let updates = 0;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function encodePath(p) {
    return p.split("/").map(encodeURIComponent).join("/");
  }

  function ago(iso) {
    if (!iso) return "";
    const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (seconds < 60) return seconds + " s ago";
    if (seconds < 3600) return Math.round(seconds / 60) + " min ago";
    return Math.round(seconds / 3600) + " h ago";
  }

  function statusOf(user) {
    const s = states.get(user);
    return s ? s.status : "not_started";
  }

  function renderCell(cell) {
    const box = el("div", "cell cell-" + cell.type);
    if (cell.type === "code") {
      box.appendChild(el("div", "prompt", "[" + (cell.count === null ? " " : cell.count) + "]"));
    }
    box.appendChild(el("pre", "src", cell.source));
    for (const out of cell.outputs || []) {
      box.appendChild(el("pre", "out " + out.kind, out.text));
    }
    return box;
  }

  function helpForm(user) {
    if (grid.dataset.liveHelp !== "1") {
      // No per-user subdomains: the student's JupyterLab would run on this site's
      // origin with our cookies, so help is the read-only view.
      const view = el("a", "", "Help (read-only)");
      view.href = grid.dataset.viewBase + encodeURIComponent(user) + "/" + encodePath(path);
      view.target = "_blank";
      view.dataset.help = "read-only";
      return view;
    }
    const form = el("form");
    form.dataset.help = "live";
    form.method = "post";
    form.target = "_blank";
    form.action = grid.dataset.helpBase + encodeURIComponent(user) + "/" + encodePath(path);
    const token = el("input");
    token.type = "hidden";
    token.name = "_xsrf";
    token.value = xsrf;
    form.appendChild(token);
    const button = el("button", "link", "Open server to help");
    button.type = "submit";
    form.appendChild(button);
    return form;
  }

  function renderCard(user) {
    const s = states.get(user);
    const status = statusOf(user);
    const card = el("article", "live-card");
    card.dataset.user = user;
    card.dataset.status = status;
    if (s && s.sha256) card.dataset.sha = s.sha256;
    const head = el("header");
    head.appendChild(el("span", "who", user));
    let label = LABELS[status] || status;
    if (status === "error" && s.error) label = "error: " + s.error;
    head.appendChild(el("span", "badge", label));
    card.appendChild(head);
    if (s) {
      const facts = [];
      if (s.saved_at) facts.push("saved " + ago(s.saved_at));
      if (s.ran_at) facts.push("ran code " + ago(s.ran_at));
      if (s.kernel === "died") facts.push("kernel died");
      const summary = s.tail && s.tail.summary;
      if (summary) facts.push(summary.executed + "/" + summary.cells + " cells run");
      card.appendChild(el("div", "muted facts", facts.join(" · ")));
      for (const cell of (s.tail && s.tail.cells) || []) card.appendChild(renderCell(cell));
    }
    const foot = el("footer");
    const view = el("a", "", "Open in full");
    view.href = grid.dataset.viewBase + encodeURIComponent(user) + "/" + encodePath(path);
    foot.appendChild(view);
    foot.appendChild(helpForm(user));
    card.appendChild(foot);
    card.hidden = filter !== "all" && filter !== status;
    return card;
  }

  function refreshCounts() {
    const counts = { all: students.length, not_started: 0, working: 0, error: 0, finished: 0 };
    for (const user of students) counts[statusOf(user)] += 1;
    for (const node of document.querySelectorAll("[data-count]")) {
      node.textContent = String(counts[node.dataset.count] || 0);
    }
  }

  function renderAll() {
    grid.replaceChildren(...students.map(renderCard));
    refreshCounts();
  }

  function replaceCard(user) {
    const old = grid.querySelector('article[data-user="' + CSS.escape(user) + '"]');
    if (old) old.replaceWith(renderCard(user));
    refreshCounts();
  }

  for (const button of document.querySelectorAll(".live-filters .filter")) {
    button.addEventListener("click", function () {
      filter = button.dataset.filter;
      for (const b of document.querySelectorAll(".live-filters .filter")) {
        b.classList.toggle("active", b === button);
      }
      for (const card of grid.children) {
        card.hidden = filter !== "all" && filter !== card.dataset.status;
      }
    });
  }

  function connect() {
    const source = new EventSource(grid.dataset.stream);
    source.addEventListener("snapshot", function (e) {
      const data = JSON.parse(e.data);
      students = data.students;
      states.clear();
      for (const s of data.states) states.set(s.user, s);
      renderAll();
      stateLine.textContent = "Live: " + students.length + " students.";
      grid.dataset.connected = "1";
    });
    source.addEventListener("update", function (e) {
      const s = JSON.parse(e.data);
      if (s.path !== path) return;
      states.set(s.user, s);
      if (students.indexOf(s.user) < 0) return; // staff trying the notebook themselves
      replaceCard(s.user);
      updates += 1;
      grid.dataset.updates = String(updates);
      stateLine.textContent = "Live: " + students.length + " students. Last update " +
        new Date().toLocaleTimeString() + ".";
    });
    source.addEventListener("reload", function () {
      source.close();
      window.location.reload();
    });
    source.onerror = function () {
      stateLine.textContent = "Connection lost; reconnecting…";
    };
  }

  // Keep the "saved 12 s ago" texts current without waiting for updates.
  window.setInterval(function () {
    for (const card of grid.children) {
      const s = states.get(card.dataset.user);
      const facts = card.querySelector(".facts");
      if (s && facts) card.replaceWith(renderCard(card.dataset.user));
    }
  }, 15000);

  connect();
})();
