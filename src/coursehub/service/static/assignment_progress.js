// The assignment page while an attempt is being graded: ask how it goes every few
// seconds and reload the page (its banner and results) once grading ended. See
// service/routes/assignments/progress.py; without scripts the page refreshes itself.
(function () {
  "use strict";
  const section = document.getElementById("attempts");
  if (!section || section.dataset.grading !== "yes") {
    return;
  }
  const url = section.dataset.progress;
  const every = 2000;
  let failures = 0;

  async function ask() {
    try {
      const answer = await fetch(url, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!answer.ok) {
        throw new Error("HTTP " + answer.status);
      }
      const state = await answer.json();
      if (!state.grading) {
        window.location.reload();
        return;
      }
      failures = 0;
    } catch (error) {
      failures += 1;
      if (failures >= 3) {
        // the page's ticket no longer works (signed out, expired): reload as without
        // a script, which also shows why if it is so
        window.setTimeout(() => window.location.reload(), 5000);
        return;
      }
    }
    window.setTimeout(ask, every);
  }

  window.setTimeout(ask, every);
})();
