/* The filter tester's form: show only the value fields of the selected filter (without script, the
 * fields of every filter are shown and only the selected filter's are used), and fill in items to rank
 * when a ranking campaign is chosen. */
"use strict";
(function () {
  const select = document.getElementById("filter-select");
  if (!select) return;
  function sync() {
    document.querySelectorAll("fieldset[data-for-filter]").forEach((fieldset) => {
      const mine = fieldset.dataset.forFilter === select.value;
      fieldset.hidden = !mine;
      fieldset.disabled = !mine;  // disabled fields are not submitted: the URL stays short
    });
  }
  select.addEventListener("change", sync);
  sync();

  // a ranking campaign needs items to rank: offer some of its catalog when the field is empty or still
  // holds another campaign's sample, so the first Compare answers
  const campaign = document.querySelector("#filter-form select[name=campaign]");
  const items = document.getElementById("input-list");
  const hint = document.getElementById("ranking-hint");
  if (campaign && items) {
    campaign.addEventListener("change", () => {
      const option = campaign.selectedOptions[0];
      const ranking = option && option.dataset.ranking === "yes";
      if (ranking && (!items.value.trim() || items.dataset.sampled === "yes")) {
        items.value = option.dataset.sample || "";
        items.dataset.sampled = "yes";
      } else if (!ranking && items.dataset.sampled === "yes") {
        items.value = "";
        items.dataset.sampled = "";
      }
      if (hint) hint.hidden = !(ranking && items.dataset.sampled === "yes");
    });
    items.addEventListener("input", () => { items.dataset.sampled = ""; });
  }
})();
