// edgeops studio: the few progressive bits. Every page works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // The project switcher (and other marked selects) submit on change.
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
  // Destructive buttons ask first.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
  // Live regions: an element with data-poll="URL" is replaced by that URL's HTML fragment
  // every few seconds until the fragment says it is final (data-final on its root).
  for (const region of document.querySelectorAll("[data-poll]")) poll(region);
});

function poll(region) {
  const every = Number(region.dataset.pollMs || 1500);
  const tick = async () => {
    try {
      const answer = await fetch(region.dataset.poll, { credentials: "same-origin" });
      if (answer.ok) {
        const holder = document.createElement("div");
        holder.innerHTML = await answer.text();
        const fresh = holder.firstElementChild;
        if (fresh) {
          region.replaceChildren(...fresh.childNodes);
          if (fresh.hasAttribute("data-final")) {
            region.removeAttribute("data-poll");
            if (fresh.dataset.reload) window.location.reload();
            return;
          }
        }
      }
    } catch (error) {
      // The server may be restarting: keep trying.
    }
    window.setTimeout(tick, every);
  };
  window.setTimeout(tick, every);
}
