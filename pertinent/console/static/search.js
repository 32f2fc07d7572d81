// Moving the weight slider re-ranks the personalized column in place (GET /console/api/groups/{g}/search).
(function () {
  "use strict";
  const form = document.getElementById("search-form");
  const slider = document.getElementById("weight");
  const list = document.getElementById("personalized-hits");
  if (!form || !slider) return;
  const shown = document.getElementById("weight-value");
  const label = document.getElementById("weight-label");
  const status = document.getElementById("search-status");
  let pending = 0;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function render(items) {
    list.replaceChildren();
    for (const item of items) {
      const li = el("li");
      li.dataset.itemId = item.item_id;
      li.append(el("span", "rank", String(item.rank)));
      const main = el("span", "item-main");
      main.append(el("span", "item-title", item.title));
      const meta = el("span", "item-meta");
      meta.append(el("code", "", item.item_id));
      for (const tag of item.tags) { meta.append(" ", el("span", "tag", tag)); }
      main.append(meta);
      li.append(main);
      const side = el("span", "item-side");
      const badge = item.delta > 0 ? el("span", "badge badge-added", "▲ " + item.delta)
        : item.delta < 0 ? el("span", "badge badge-removed", "▼ " + (-item.delta)) : el("span", "badge", "·");
      badge.dataset.delta = String(item.delta);
      side.append(badge);
      li.append(side);
      list.append(li);
    }
  }

  slider.addEventListener("input", () => { if (shown) shown.textContent = slider.value; });
  slider.addEventListener("change", async () => {
    if (!list) return;
    const params = new URLSearchParams(new FormData(form));
    const path = window.location.pathname.replace("/console/groups/", "/console/api/groups/");
    const ticket = ++pending;
    if (status) { status.className = "notice busy"; status.textContent = "Re-ranking…"; }
    try {
      const response = await fetch(path + "?" + params.toString(), { headers: { Accept: "application/json" } });
      const body = await response.json();
      if (ticket !== pending) return;
      if (!response.ok) throw new Error(body.error ? body.error.code + ": " + body.error.message : response.statusText);
      render(body.personalized);
      if (label) label.textContent = String(body.weight);
      history.replaceState(null, "", window.location.pathname + "?" + params.toString());
      if (status) { status.className = "notice ok"; status.textContent = "Re-ranked at weight " + body.weight + "."; }
    } catch (err) {
      if (status) { status.className = "notice error"; status.textContent = String(err.message || err); }
    }
  });
})();
