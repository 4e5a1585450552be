// Times on coursehub's pages. The server writes each moment in UTC, with UTC named, in
// <time datetime="…Z" data-local>, so pages read right without scripts; here they are
// shown in the viewer's own time zone, named ("2026-12-21 10:00 PST"). Date fields of
// forms get the browser's zone in a hidden field (name=zone, data-browser-zone), so the
// server reads a datetime-local value in the zone the person typed it in; values
// already filled (data-utc) are shown in that zone too.
(function () {
  "use strict";
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  if (!zone) {
    return; // the server's wording stands: UTC on times, the server's zone on forms
  }
  function parts(date, extra) {
    const format = new Intl.DateTimeFormat("en-US", Object.assign({
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit",
      day: "2-digit", hour: "2-digit", minute: "2-digit",
    }, extra));
    const found = {};
    for (const part of format.formatToParts(date)) {
      found[part.type] = part.value;
    }
    return found;
  }
  function shown(date) {
    const seconds = date.getUTCSeconds() !== 0;
    const p = parts(date, seconds ? { second: "2-digit", timeZoneName: "short" } : { timeZoneName: "short" });
    const clock = p.hour + ":" + p.minute + (seconds ? ":" + p.second : "");
    return p.year + "-" + p.month + "-" + p.day + " " + clock + " " + p.timeZoneName;
  }
  function inputValue(date) {
    const p = parts(date, {});
    return p.year + "-" + p.month + "-" + p.day + "T" + p.hour + ":" + p.minute;
  }
  for (const el of document.querySelectorAll("time[data-local][datetime]")) {
    const date = new Date(el.getAttribute("datetime"));
    if (!isNaN(date.getTime())) {
      el.title = el.textContent + " (" + zone + ")";
      el.textContent = shown(date);
    }
  }
  for (const el of document.querySelectorAll("input[data-browser-zone]")) {
    el.value = zone;
  }
  const short = parts(new Date(), { timeZoneName: "short" }).timeZoneName;
  for (const el of document.querySelectorAll("[data-zone-note]")) {
    el.textContent = "in your time zone, " + zone + (short && short !== zone ? " (" + short + ")" : "");
  }
  for (const el of document.querySelectorAll("input[type=datetime-local][data-utc]")) {
    const date = new Date(el.dataset.utc);
    if (el.dataset.utc && !isNaN(date.getTime())) {
      el.value = inputValue(date);
    }
  }
})();
