/* The console's workflow forms: each posts JSON to a /console/api/ endpoint (the same control-plane
 * operation boto3 calls), then follows the resource through /console/api/status until it is ACTIVE,
 * showing live progress; failures show the error code and message. Text goes in with textContent only. */
"use strict";
(function () {
  const POLL_MS = 700;

  function csrfHeaders() {
    // with --credentials the console's session has a CSRF token in a cookie, sent back as a header
    const match = document.cookie.match(/(?:^|;\s*)pertinent_csrf=([^;]+)/);
    return match ? { "X-CSRF-Token": decodeURIComponent(match[1]) } : {};
  }

  async function call(url, body) {
    const options = body === undefined ? {} : {
      method: "POST",
      headers: Object.assign({ "Content-Type": "application/json" }, csrfHeaders()),
      body: JSON.stringify(body),
    };
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

  function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

  async function follow(arn, onUpdate) {
    for (;;) {
      const record = await call("/console/api/status?arn=" + encodeURIComponent(arn));
      if (onUpdate) onUpdate(record);
      if (!record.in_flight) {
        if (record.status !== "ACTIVE") {
          const failure = new Error(record.failure_reason || ("ended " + record.status));
          failure.code = record.status;
          throw failure;
        }
        return record;
      }
      await sleep(POLL_MS);
    }
  }

  function ui(form) {
    const status = form.querySelector(".wf-status") || form.parentElement.querySelector(".wf-status");
    const box = form.querySelector(".wf-progress");
    return {
      say(message, kind) {
        if (!status) return;
        status.textContent = message;
        status.className = "notice wf-status" + (kind ? " " + kind : "");
      },
      progress(fraction, text) {
        if (!box) return;
        box.hidden = false;
        const pct = Math.max(0, Math.min(100, Math.round((fraction || 0) * 100)));
        box.querySelector(".progress-fill").style.width = pct + "%";
        box.querySelector("[role=progressbar]").setAttribute("aria-valuenow", String(pct));
        box.querySelector("[data-role=progress-text]").textContent = pct + "%" + (text ? " · " + text : "");
      },
      fail(err) { this.say((err.code ? err.code + ": " : "") + err.message, "error"); },
    };
  }

  function values(form) {
    const data = {};
    for (const [key, value] of new FormData(form).entries()) {
      if (typeof value === "string") data[key] = value.trim();
    }
    return data;
  }

  function busy(form, on) {
    for (const button of form.querySelectorAll("button")) button.disabled = on;
  }

  function handle(selector, run) {
    for (const form of document.querySelectorAll(selector)) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const view = ui(form);
        busy(form, true);
        try { await run(form, view); } catch (err) { view.fail(err); } finally { busy(form, false); }
      });
    }
  }

  // -- create a dataset group -------------------------------------------------------------------
  handle(".wf-form", async (form, view) => {
    const data = values(form);
    view.say("Creating " + data.name + " …");
    const made = await call(form.dataset.action, data);
    await follow(made.arn, (r) => view.say(data.name + ": " + r.status));
    window.location.assign(made.next);
  });

  // -- datasets: suggested schema, upload or location, live import ------------------------------
  function renameHeader(text, form) {
    // the suggestion maps reserved names spelled another way (userId → USER_ID): the uploaded copy's
    // header says them as Personalize reads them (headers are never quoted, as Personalize requires)
    const renames = JSON.parse(form.dataset.renames || "{}");
    if (!Object.keys(renames).length) return text;
    const end = text.indexOf("\n");
    const header = end < 0 ? text : text.slice(0, end);
    const renamed = header.split(",").map((name) => {
      const key = name.trim().replace(/^\uFEFF/, "");
      return Object.prototype.hasOwnProperty.call(renames, key) ? renames[key] : name;
    }).join(",");
    return renamed + (end < 0 ? "" : text.slice(end));
  }
  for (const form of document.querySelectorAll(".wf-dataset")) {
    const file = form.querySelector("input[type=file]");
    const schema = form.querySelector("textarea[name=schema]");
    const problems = form.querySelector(".wf-problems");
    const type = form.closest("[data-type]").dataset.type;
    if (file && schema) {
      file.addEventListener("change", async () => {
        const view = ui(form);
        if (!file.files.length) return;
        try {
          const sample = await file.files[0].slice(0, 262144).text();
          const suggestion = await call("/console/api/schema-suggestion", { dataset_type: type, sample: sample });
          schema.value = suggestion.schema;
          form.dataset.renames = JSON.stringify(suggestion.renames || {});
          problems.replaceChildren(...suggestion.problems.map((p) => {
            const li = document.createElement("li"); li.textContent = p; return li;
          }));
          view.say("Schema suggested from " + suggestion.rows_sampled + " rows of " + file.files[0].name + ".");
        } catch (err) { view.fail(err); }
      });
    }
  }
  handle(".wf-dataset", async (form, view) => {
    const data = values(form);
    const file = form.querySelector("input[type=file]");
    const type = form.closest("[data-type]").dataset.type;
    let location = data.data_location;
    if (file && file.files.length) {
      view.say("Uploading " + file.files[0].name + " …");
      location = (await call("/console/api/uploads", { text: renameHeader(await file.files[0].text(), form) })).path;
    }
    if (!location) throw Object.assign(new Error("Choose a CSV file or give a path or s3:// URL."), { code: "InvalidInputException" });
    let datasetArn = form.dataset.datasetArn;
    if (!datasetArn) {
      view.say("Creating the " + type + " dataset …");
      datasetArn = (await call("/console/api/groups/" + encodeURIComponent(form.dataset.group) + "/datasets",
        { dataset_type: type, schema: data.schema || "" })).arn;
      await follow(datasetArn, (r) => view.say("Dataset " + r.status));
      form.dataset.datasetArn = datasetArn;
    }
    const job = await call("/console/api/import-jobs", { dataset_arn: datasetArn, data_location: location, import_mode: data.import_mode });
    view.progress(0, "queued");
    const done = await follow(job.arn, (r) => {
      view.progress(r.in_flight ? 0.5 : 1, (r.rows_read || 0).toLocaleString() + " rows read · " + r.status);
      view.say("Import " + r.status);
    });
    view.progress(1, (done.rows_read || 0).toLocaleString() + " rows imported");
    view.say("Imported " + (done.rows_read || 0).toLocaleString() + " rows.", "ok");
    setTimeout(() => window.location.reload(), 800);
  });

  // -- solution and training ----------------------------------------------------------------------
  handle(".wf-solution", async (form, view) => {
    const data = values(form);
    const solution = await call("/console/api/groups/" + encodeURIComponent(form.dataset.group) + "/solutions", {
      name: data.name, recipe_arn: data.recipe_arn, perform_hpo: form.querySelector("[name=perform_hpo]").checked,
    });
    await follow(solution.arn, (r) => view.say("Solution " + r.status));
    const version = await call("/console/api/solution-versions", { solution_arn: solution.arn });
    view.progress(0, "queued");
    await follow(version.arn, (r) => {
      const p = r.training_progress || {};
      view.progress(p.fraction || 0, p.message || r.status);
      view.say("Training " + r.status);
    });
    view.progress(1, "done");
    view.say("Trained: " + version.arn.split(":solution/")[1] + ".", "ok");
    setTimeout(() => window.location.reload(), 800);
  });

  // -- campaign, event tracker, filter --------------------------------------------------------------
  handle(".wf-campaign", async (form, view) => {
    const made = await call("/console/api/campaigns", values(form));
    await follow(made.arn, (r) => view.say("Campaign " + r.status));
    window.location.assign(made.page);
  });
  handle(".wf-recommender", async (form, view) => {
    const data = values(form);
    const made = await call("/console/api/groups/" + encodeURIComponent(form.dataset.group) + "/recommenders", data);
    await follow(made.arn, (r) => {
      const p = r.training_progress || {};
      view.say("Recommender " + r.status + (p.message ? " · " + p.message : ""));
    });
    view.say("Recommender " + data.name + " ACTIVE.", "ok");
    setTimeout(() => window.location.reload(), 800);
  });
  handle(".wf-tracker", async (form, view) => {
    const made = await call("/console/api/groups/" + encodeURIComponent(form.dataset.group) + "/event-trackers", values(form));
    for (const node of document.querySelectorAll(".wf-tracking-id")) node.textContent = made.tracking_id;
    await follow(made.arn, (r) => view.say("Event tracker " + r.status + " · tracking id " + made.tracking_id));
    view.say("Event tracker ACTIVE · tracking id " + made.tracking_id, "ok");
  });
  handle(".wf-filter", async (form, view) => {
    const data = values(form);
    const made = await call("/console/api/groups/" + encodeURIComponent(form.dataset.group) + "/filters", data);
    await follow(made.arn, (r) => view.say("Filter " + r.status));
    view.say("Filter " + data.name + " ACTIVE.", "ok");
    setTimeout(() => window.location.reload(), 800);
  });

  // -- batch inference, batch segment and data deletion jobs ---------------------------------------
  handle(".wf-batch", async (form, view) => {
    const data = values(form);
    const kind = form.dataset.kind;
    const file = form.querySelector("input[type=file]");
    const field = kind === "deletion" ? "data_location" : "input_path";
    if (file && file.files.length) {
      view.say("Uploading " + file.files[0].name + " …");
      const suffix = kind === "deletion" ? ".csv" : ".json";
      data[field] = (await call("/console/api/uploads", { text: await file.files[0].text(), suffix: suffix })).path;
    }
    if (!data[field]) throw Object.assign(new Error("Choose a file or give a path or s3:// URL."), { code: "InvalidInputException" });
    data.kind = kind;
    view.say("Creating " + data.job_name + " …");
    const made = await call("/console/api/groups/" + encodeURIComponent(form.dataset.group) + "/batch-jobs", data);
    window.location.assign(made.page);  // the job's page follows it live
  });

  // -- metric attribution (the impact page) --------------------------------------------------------
  handle(".wf-attribution", async (form, view) => {
    const made = await call("/console/api/groups/" + encodeURIComponent(form.dataset.group) + "/metric-attributions", values(form));
    view.say("Metric attribution created: " + made.arn.split(":metric-attribution/")[1] + ".", "ok");
    setTimeout(() => window.location.reload(), 600);
  });

  handle(".wf-experiment", async (form, view) => {
    const made = await call("/console/api/groups/" + encodeURIComponent(form.dataset.group) + "/experiments", values(form));
    window.location.assign(made.page);
  });

  const copy = document.getElementById("copy-snippet");
  if (copy) {
    copy.addEventListener("click", async () => {
      const text = document.getElementById("tracker-snippet").textContent;
      try { await navigator.clipboard.writeText(text); copy.textContent = "Copied"; }
      catch (err) {
        const range = document.createRange();
        range.selectNodeContents(document.getElementById("tracker-snippet"));
        window.getSelection().removeAllRanges();
        window.getSelection().addRange(range);
        copy.textContent = "Selected: press Ctrl-C";
      }
    });
  }
})();
