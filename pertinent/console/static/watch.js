/* Follows in-flight resources (training versions, import jobs, campaigns being created, batch jobs).
 * Every element with data-watch="ARN" is polled through /console/api/status; its status badge and
 * progress bar are updated in place, and the page reloads once a resource has finished, so that the
 * server renders the finished state (metrics, row counts, failure reasons). */
"use strict";
(function () {
  const POLL_MS = 1500;
  const watched = Array.from(document.querySelectorAll("[data-watch]"));
  if (!watched.length) return;

  function statusClass(status) {
    if (status === "ACTIVE" || status === "COMPLETED") return "ok";
    if (status === "CREATE FAILED" || status === "FAILED") return "failed";
    if (status === "CREATE STOPPED") return "stopped";
    return "busy";
  }

  function update(el, info) {
    el.querySelectorAll("[data-role=status]").forEach((badge) => {
      badge.textContent = info.status;
      badge.className = "status status-" + statusClass(info.status);
    });
    const progress = info.training_progress || info.job_progress;  // (batch jobs: fraction and lines)
    if (progress) {
      const pct = Math.round((progress.fraction || 0) * 100);
      el.querySelectorAll("[data-role=progress]").forEach((bar) => {
        bar.setAttribute("aria-valuenow", String(pct));
        const fill = bar.querySelector(".progress-fill");
        if (fill) fill.style.width = pct + "%";
      });
      el.querySelectorAll("[data-role=progress-text]").forEach((text) => {
        const detail = progress.message || (typeof progress.lines === "number" ? progress.lines.toLocaleString("en-US") + " lines" : "");
        text.textContent = pct + "%" + (detail ? " · " + detail : "");
      });
    }
    if (typeof info.rows_read === "number") {
      el.querySelectorAll("[data-role=rows-read]").forEach((cell) => {
        cell.textContent = info.rows_read.toLocaleString("en-US");
      });
    }
  }

  async function poll() {
    let finished = false;
    for (const el of watched) {
      try {
        const response = await fetch("/console/api/status?arn=" + encodeURIComponent(el.dataset.watch));
        if (!response.ok) { finished = true; continue; }  // deleted meanwhile: show the current page
        const info = await response.json();
        update(el, info);
        if (!info.in_flight) finished = true;
      } catch (err) {
        /* the server restarted or the network blinked: try again on the next tick */
      }
    }
    if (finished) window.location.reload();
    else window.setTimeout(poll, POLL_MS);
  }
  window.setTimeout(poll, POLL_MS);
})();
