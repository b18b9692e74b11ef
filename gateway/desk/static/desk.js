// The desk's only script: live search and the chapter slider on the World page. Everything
// also works without it (the form submits ?q= and ?chapter= to the server).
"use strict";

function holdsAt(li, chapter) {
  if (chapter === null) return true;
  const from = li.dataset.from, until = li.dataset.until;
  return (from === "" || chapter >= Number(from)) && (until === "" || chapter <= Number(until));
}

function setupWorld() {
  const list = document.getElementById("entries");
  if (!list) return;
  const search = document.getElementById("search");
  const slider = document.getElementById("chapter");
  const label = document.getElementById("chapter-label");
  const field = document.getElementById("chapter-field");
  const any = document.getElementById("chapter-any");
  const shown = document.getElementById("shown");
  const count = document.getElementById("count");
  const rows = Array.from(list.querySelectorAll("li.entry"));
  const total = rows.length;
  let chapter = slider.dataset.any ? null : Number(slider.value);

  function apply() {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    let visible = 0;
    for (const li of rows) {
      const ok = holdsAt(li, chapter) && words.every((w) => li.dataset.search.includes(w));
      li.hidden = !ok;
      if (ok) visible += 1;
    }
    for (const group of list.querySelectorAll("section.group")) {
      group.hidden = !group.querySelector("li.entry:not([hidden])");
    }
    label.textContent = chapter === null ? "any" : String(chapter);
    field.value = chapter === null ? "" : String(chapter);
    shown.textContent = String(visible);
    count.lastChild.textContent = ` of ${total} entries` +
      (chapter === null ? "" : ` hold at chapter ${chapter}`);
  }

  search.addEventListener("input", apply);
  slider.addEventListener("input", () => { chapter = Number(slider.value); apply(); });
  any.addEventListener("click", () => { chapter = null; apply(); });
  if (search.value || chapter !== null) apply();
}

function markNav() {
  const here = location.pathname.split("/")[2] || "world";
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === here || (here === "world" && a.dataset.nav === "world")) {
      a.style.fontWeight = "700";
    }
  }
}

document.addEventListener("DOMContentLoaded", () => { setupWorld(); markNav(); });
