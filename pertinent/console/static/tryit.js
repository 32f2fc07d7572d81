/* The campaign's "try it" panel: ask for recommendations, show them beside the user's recent history,
 * send an event for a recommended item and show how the list changed.
 * Everything goes through the console's JSON endpoints; text is inserted with textContent only. */
"use strict";
(function () {
  const panel = document.getElementById("try-it");
  const form = document.getElementById("try-form");
  if (!panel || !form) return;
  const api = panel.dataset.api;
  const canSend = panel.dataset.canSend === "yes";
  const canExplain = panel.dataset.explain === "yes";
  const list = document.getElementById("recommendations");
  const history = document.getElementById("history");
  const historyTotal = document.getElementById("history-total");
  const status = document.getElementById("try-status");
  const eventType = document.getElementById("event-type");
  const eventValue = document.getElementById("event-value");
  let shown = [];  // item ids currently listed, in order
  let recommendationId = null;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function say(message, kind) {
    status.textContent = message;
    status.className = "notice" + (kind ? " " + kind : "");
  }

  function params() {
    const data = new FormData(form);
    const query = new URLSearchParams();
    for (const [key, value] of data.entries()) {
      // the filter is kept even when "(none)": a shared link then opens without the default filter too
      if (String(value).trim() !== "" || key === "filter") query.set(key, String(value).trim());
    }
    return query;
  }

  function csrfToken() {
    // under --credentials the server sets this (SameSite=Strict) cookie at sign-in; writes must echo it
    const match = document.cookie.match(/(?:^|;\s*)pertinent_csrf=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function call(url, options) {
    if (options && options.method && options.method !== "GET") {
      options.headers = Object.assign({}, options.headers, { "X-CSRF-Token": csrfToken() });
    }
    const response = await fetch(url, options);
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    if (!response.ok) {
      const error = data && data.error ? data.error : { code: "HTTP " + response.status, message: response.statusText };
      const failure = new Error(error.message);
      failure.code = error.code;
      throw failure;
    }
    return data;
  }

  function formatScore(score) {
    // Personalize's scores share 1.0 among all items, so most are small: keep three significant digits
    return score === 0 ? "0" : score >= 0.001 ? score.toFixed(4) : score.toPrecision(3);
  }

  function formatWhen(epoch) {
    const when = new Date(epoch * 1000);
    const today = new Date().toDateString() === when.toDateString();
    return today ? when.toLocaleTimeString() : when.toLocaleString();
  }

  function itemBody(item) {
    const main = el("span", "item-main");
    main.appendChild(el("span", "item-title", item.title || item.item_id));
    const meta = el("span", "item-meta");
    meta.appendChild(el("code", "item-id", item.item_id));
    for (const tag of item.tags || []) meta.appendChild(el("span", "tag", tag));
    main.appendChild(meta);
    return main;
  }

  function renderItems(items, previous) {
    list.replaceChildren();
    if (!items.length) list.appendChild(el("li", "placeholder", "The campaign returned no items."));
    for (const item of items) {
      const li = el("li");
      li.dataset.itemId = item.item_id;
      li.appendChild(el("span", "rank", String(item.rank)));
      li.appendChild(itemBody(item));
      const side = el("span", "item-side");
      if (previous && !previous.includes(item.item_id)) {
        li.classList.add("added");
        side.appendChild(el("span", "badge badge-added", "new"));
      }
      if (item.promotion_name) side.appendChild(el("span", "badge", item.promotion_name));
      if (typeof item.score === "number") side.appendChild(el("span", "score", formatScore(item.score)));
      if (canExplain) {
        const why = el("button", "secondary explain", "Why?");
        why.type = "button";
        why.dataset.itemId = item.item_id;
        why.title = "Why this item is recommended to the user (GET /explain)";
        side.appendChild(why);
      }
      if (canSend) {
        const button = el("button", "secondary send-event", "Send event");
        button.type = "button";
        button.dataset.itemId = item.item_id;
        button.title = "Record an interaction with this item for the user";
        side.appendChild(button);
      }
      li.appendChild(side);
      list.appendChild(li);
    }
  }

  function renderHistory(entries, total) {
    history.replaceChildren();
    historyTotal.textContent = total ? "(" + total + " in all)" : "";
    if (!entries.length) {
      history.appendChild(el("li", "placeholder", "No interactions yet: a new user gets popular items."));
      return;
    }
    for (const entry of entries) {
      const li = el("li");
      li.dataset.itemId = entry.item_id;
      li.dataset.source = entry.source;
      li.appendChild(itemBody(entry));
      const side = el("span", "item-side");
      if (entry.source === "event") {
        side.appendChild(el("span", "badge badge-live", "live " + (entry.event_type || "event")));
        side.appendChild(el("span", "when", formatWhen(entry.timestamp)));
      } else {
        side.appendChild(el("span", "badge", "training data"));
      }
      li.appendChild(side);
      history.appendChild(li);
    }
  }

  async function recommend(previous) {
    const query = params();
    const started = performance.now();
    const data = await call(api + "/recommendations?" + query.toString());
    recommendationId = data.recommendation_id;
    renderItems(data.items, previous);
    renderHistory(data.history, data.history_total);
    const ids = data.items.map((item) => item.item_id);
    shown = ids;
    history.dataset.userId = data.user_id;
    window.history.replaceState(null, "", "?" + query.toString());
    return { ids: ids, ms: Math.round(performance.now() - started), serverMs: data.elapsed_ms };
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    say("Asking the campaign…", "busy");
    try {
      const result = await recommend(null);
      say(result.ids.length + " recommendations in " + result.ms + " ms (" + result.serverMs + " ms on the server).", "ok");
    } catch (err) {
      say((err.code || "Error") + ": " + err.message, "error");
    }
  });

  function renderWhy(li, data) {
    const box = el("div", "why");
    box.dataset.role = "why";
    const related = data.related_history || [];
    if (related.length) {
      box.appendChild(el("span", "why-lead", "Because the user interacted with: "));
      related.forEach((entry, i) => {
        const ref = el("span", "why-item", entry.title || entry.item_id);
        ref.dataset.itemId = entry.item_id;
        ref.title = entry.item_id + " · strength " + formatScore(entry.strength);
        box.appendChild(ref);
        if (i < related.length - 1) box.appendChild(document.createTextNode(", "));
      });
    } else {
      box.appendChild(el("span", "why-lead", "No item of the user's history relates to it: it comes from popularity or exploration."));
    }
    const features = data.features || [];
    if (features.length) {
      const list = el("ul", "why-features");
      for (const f of features) {
        const row = el("li", null, f.name + (f.value === null || f.value === undefined ? "" : " = " + f.value) +
          " (" + (f.contribution >= 0 ? "+" : "") + f.contribution.toFixed(3) + ")");
        row.dataset.feature = f.name;
        list.appendChild(row);
      }
      box.appendChild(list);
    }
    const old = li.querySelector(".why");
    if (old) old.remove();
    li.appendChild(box);
  }

  list.addEventListener("click", async (event) => {
    const why = event.target.closest("button.explain");
    if (why) {
      const userId = (new FormData(form).get("user_id") || "").toString().trim();
      const query = new URLSearchParams({ user_id: userId, item_id: why.dataset.itemId });
      const context = (new FormData(form).get("context") || "").toString().trim();
      if (context) query.set("context", context);
      why.disabled = true;
      try {
        renderWhy(why.closest("li"), await call(api + "/explain?" + query.toString()));
      } catch (err) {
        say((err.code || "Error") + ": " + err.message, "error");
      } finally { why.disabled = false; }
      return;
    }
    const button = event.target.closest("button.send-event");
    if (!button) return;
    const userId = (new FormData(form).get("user_id") || "").toString().trim();
    if (!userId) { say("Enter a user id first: the event is recorded for that user.", "error"); return; }
    const itemId = button.dataset.itemId;
    const before = shown.slice();
    list.querySelectorAll("button.send-event").forEach((b) => { b.disabled = true; });
    say("Sending “" + eventType.value + "” on " + itemId + " for user " + userId + "…", "busy");
    try {
      const body = { user_id: userId, item_id: itemId, event_type: eventType.value, recommendation_id: recommendationId };
      if (eventValue && eventValue.value !== "") body.event_value = eventValue.value;
      await call(api + "/events", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      const result = await recommend(before);
      const changed = result.ids.filter((id) => !before.includes(id)).length;
      const moved = result.ids.filter((id, i) => before[i] !== id).length;
      say("Sent “" + body.event_type + "” on " + itemId + ". " + changed + " new item" + (changed === 1 ? "" : "s") +
        " in the list, " + moved + " position" + (moved === 1 ? "" : "s") + " changed.", "ok");
      panel.dataset.lastEvent = itemId;
    } catch (err) {
      say((err.code || "Error") + ": " + err.message, "error");
      list.querySelectorAll("button.send-event").forEach((b) => { b.disabled = false; });
    }
  });

  // sample users to pick from
  call(api + "/users").then((data) => {
    const options = document.getElementById("sample-users");
    for (const user of data.users) {
      const option = document.createElement("option");
      option.value = user;
      options.appendChild(option);
    }
  }).catch(() => { /* the panel works without suggestions */ });

  // a shared link (?user_id=…) asks right away
  const initial = new URLSearchParams(window.location.search);
  let any = false;
  for (const [key, value] of initial.entries()) {
    const input = form.elements.namedItem(key);
    if (input && "value" in input) { input.value = value; any = true; }
  }
  if (any && form.checkValidity()) form.requestSubmit();
})();
