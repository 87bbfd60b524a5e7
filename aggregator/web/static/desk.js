// aggregator desk: progressive enhancement only. Every form works without this file.
// Triage buttons (read / star) update in place instead of reloading the page.
"use strict";
document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!form.classList.contains("triage")) return;
  const button = event.submitter;
  if (!button || !window.fetch) return;
  event.preventDefault();
  const data = new FormData(form);
  data.set("action", button.value);
  // getAttribute: the buttons are named "action", which shadows form.action
  const response = await fetch(form.getAttribute("action"), {
    method: "POST", body: new URLSearchParams(data),
    headers: { "Accept": "application/json" }, credentials: "same-origin",
  });
  if (!response.ok) {  // let the server answer as it would without this script
    const field = document.createElement("input");
    field.type = "hidden"; field.name = "action"; field.value = button.value;
    form.appendChild(field);
    HTMLFormElement.prototype.submit.call(form);
    return;
  }
  const state = (await response.json())[data.get("id")];
  const row = form.closest("li.story");
  if (row) {
    row.classList.toggle("read", state.read);
    row.classList.toggle("starred", state.starred);
  }
  for (const b of form.querySelectorAll("button")) {
    if (b.classList.contains("read-toggle")) {
      b.value = state.read ? "unread" : "read";
      b.textContent = state.read ? "Mark unread" : "Mark read";
    } else if (b.classList.contains("star")) {
      b.value = state.starred ? "unstar" : "star";
      b.textContent = state.starred ? "\u2605 Starred" : "\u2606 Star";
      b.classList.toggle("on", state.starred);
      b.setAttribute("aria-pressed", String(state.starred));
    }
  }
});
