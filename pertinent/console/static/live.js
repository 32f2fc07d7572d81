/* The live view of a dataset group's events: polls the events endpoint for events after the newest
 * one shown and puts them on top of the table, highlighted for a moment. */
"use strict";
(function () {
  const root = document.getElementById("live-events");
  if (!root) return;
  const api = root.dataset.api;
  const pollMs = Number(root.dataset.pollMs) || 1000;
  const keep = Number(root.dataset.keep) || 200;
  const body = document.getElementById("events-body");
  const table = document.getElementById("events-table");
  const empty = document.getElementById("live-empty");
  const status = document.getElementById("live-status");
  const toggle = document.getElementById("live-toggle");
  let lastSeq = Number(root.dataset.lastSeq) || 0;
  let paused = false;
  let timer = null;

  const columns = [
    ["#", (e) => String(e.seq), "num"],
    ["Received", (e) => formatTime(e.received)],
    ["Kind", (e) => e.kind],
    ["User", (e) => e.user_id || ""],
    ["Item", (e) => e.item_id || ""],
    ["Event type", (e) => e.event_type || ""],
    ["Value", (e) => (e.event_value === null || e.event_value === undefined ? "" : String(e.event_value)), "num"],
    ["Session", (e) => e.session_id || ""],
  ];

  function formatTime(epoch) {
    return new Date(epoch * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  function row(event) {
    const tr = document.createElement("tr");
    tr.dataset.seq = String(event.seq);
    tr.dataset.itemId = event.item_id || "";
    tr.dataset.userId = event.user_id || "";
    tr.className = "fresh";
    for (const [label, value, cls] of columns) {
      const td = document.createElement("td");
      td.dataset.label = label;
      td.textContent = value(event);
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    return tr;
  }

  async function poll() {
    timer = null;
    if (paused) return;
    try {
      const response = await fetch(api + "?after=" + lastSeq);
      const data = await response.json();
      if (!response.ok) throw new Error(data.error ? data.error.code + ": " + data.error.message : response.statusText);
      const events = data.events;  // newest first
      if (events.length) {
        const fragment = document.createDocumentFragment();
        for (const event of events) fragment.appendChild(row(event));
        body.insertBefore(fragment, body.firstChild);
        while (body.rows.length > keep) body.deleteRow(body.rows.length - 1);
        lastSeq = data.last_seq;
        table.hidden = false;
        empty.hidden = true;
        window.setTimeout(() => body.querySelectorAll("tr.fresh").forEach((tr) => tr.classList.remove("fresh")), 2500);
      }
      status.textContent = "Live — " + body.rows.length + " events shown, last checked " +
        new Date().toLocaleTimeString() + ".";
      status.classList.remove("error");
    } catch (err) {
      status.textContent = "Could not fetch events (" + err.message + "); retrying.";
      status.classList.add("error");
    }
    timer = window.setTimeout(poll, pollMs);
  }

  toggle.addEventListener("click", () => {
    paused = !paused;
    toggle.textContent = paused ? "Resume" : "Pause";
    toggle.setAttribute("aria-pressed", String(paused));
    if (paused) status.textContent = "Paused.";
    else if (timer === null) poll();
  });
  timer = window.setTimeout(poll, pollMs);
})();
