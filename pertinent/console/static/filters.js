/* The filter tester's form: show only the value fields of the selected filter (without script, the
 * fields of every filter are shown and only the selected filter's are used). */
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
})();
