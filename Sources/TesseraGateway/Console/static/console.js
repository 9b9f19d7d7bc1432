// Tessera console: the only script. It refreshes an org's provisioning steps while they run (the page works without
// it: reloading shows the same). Served from the console's own origin, as the Content-Security-Policy requires.
"use strict";

function renderSteps(list, steps) {
  list.replaceChildren(...steps.map((step) => {
    const item = document.createElement("li");
    item.className = `step step-${step.status}`;
    const name = document.createElement("span");
    name.className = "step-name";
    name.textContent = step.summary;
    const status = document.createElement("span");
    status.className = "step-status";
    status.textContent = step.status;
    item.append(name, " — ", status);
    if (step.error) {
      const error = document.createElement("span");
      error.className = "error";
      error.textContent = ` ${step.error}`;
      item.append(error);
    }
    return item;
  }));
}

async function poll(list) {
  const status = document.getElementById("org-status");
  const reason = document.getElementById("org-reason");
  for (;;) {
    let journal = null;
    try {
      const response = await fetch(list.dataset.poll, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.ok) journal = await response.json();
    } catch (error) {
      // the gateway restarting: try again below
    }
    if (journal) {
      renderSteps(list, journal.steps);
      status.textContent = journal.status;
      status.className = `status status-${journal.status}`;
      reason.textContent = journal.status_reason || "";
      // Done: the page again from the server, with what the new owner may now do there.
      if (journal.status !== "provisioning") return window.location.reload();
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const list = document.querySelector("[data-poll]");
  const status = document.getElementById("org-status");
  if (list && status && status.textContent.trim() === "provisioning") poll(list);
});
