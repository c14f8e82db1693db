// network-opt app: live job progress, live job lists, the scenario form. No library, nothing loaded from outside.
"use strict";

function text(id, value) {
  const el = document.getElementById(id);
  if (el && value !== undefined && value !== null) el.textContent = value;
}

function duration(s) {
  if (s === null || s === undefined) return "";
  if (s < 120) return s.toFixed(1) + " s";
  return Math.floor(s / 60) + " min " + String(Math.floor(s % 60)).padStart(2, "0") + " s";
}

function pollJob(box) {
  const id = box.dataset.job;
  fetch("/api/jobs/" + id, {credentials: "same-origin"})
    .then((r) => r.json())
    .then((p) => {
      text("p-state", p.state);
      const badge = document.getElementById("p-state");
      if (badge) badge.className = "badge " + p.state;
      text("p-elapsed", duration(p.elapsed));
      text("p-phase", p.phase);
      text("p-best", p.best);
      text("p-bound", p.bound);
      text("p-gap", p.gap);
      if (p.runs_done !== null) text("p-runs", p.runs_done + (p.runs_total ? " of " + p.runs_total : ""));
      text("p-log", (p.log || []).join("\n"));
      if (p.state !== "queued" && p.state !== "running") {
        window.location.reload();  // the results are rendered by the server
      } else {
        setTimeout(() => pollJob(box), 1000);
      }
    })
    .catch(() => setTimeout(() => pollJob(box), 3000));
}

// anything typed or chosen in a form: the live lists stop reloading the page, which would erase it
let edited = false;
["input", "change"].forEach((kind) => document.addEventListener(kind, (e) => {
  if (e.target instanceof Element && e.target.closest("form")) edited = true;
}, true));

function pausedNote(table) {
  if (document.getElementById("live-paused")) return;
  const note = document.createElement("p");
  note.id = "live-paused";
  note.className = "note";
  note.textContent = "Job updates are paused while you edit a form (a reload would erase what you typed); " +
    "reload the page to see them.";
  table.before(note);
}

function liveLists() {
  const tables = document.querySelectorAll("table.jobs[data-live]");
  const active = document.querySelectorAll("table.jobs [data-state='queued'], table.jobs [data-state='running']");
  if (tables.length && active.length) {
    setTimeout(() => {
      if (edited) pausedNote(tables[0]);
      else if (!document.querySelector("form:focus-within")) window.location.reload();
      else liveLists();
    }, 2000);
  }
}

function scenarioForm() {
  const form = document.getElementById("scenario-form");
  if (!form) return;
  const lists = {close: "keys-facility", open: "keys-facility", set: "keys-value", scale: "keys-value",
                 policies: "keys-jurisdiction"};
  const hints = {close: "", open: "", set: "new value", scale: "factor, e.g. 1.3", policies: "preset ids separated by ;"};
  function wire(row) {
    const op = row.querySelector("select[name=op]");
    const key = row.querySelector("input[name=key]");
    const value = row.querySelector("input[name=value]");
    function update() {
      key.setAttribute("list", lists[op.value] || "keys-all");
      value.placeholder = hints[op.value] !== undefined ? hints[op.value] : "value / factor / preset ids";
      value.readOnly = op.value === "open" || op.value === "close";
      if (value.readOnly) value.value = "";
    }
    op.addEventListener("change", update);
    update();
  }
  form.querySelectorAll("tr.change").forEach(wire);
  document.getElementById("add-change").addEventListener("click", () => {
    const rows = form.querySelectorAll("tr.change");
    const copy = rows[rows.length - 1].cloneNode(true);
    copy.querySelectorAll("input").forEach((i) => { i.value = ""; i.readOnly = false; });
    copy.querySelector("select").value = "";
    rows[rows.length - 1].after(copy);
    wire(copy);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("progress");
  if (box && box.dataset.active === "1") setTimeout(() => pollJob(box), 500);
  else liveLists();
  scenarioForm();
  // deletions ask first (the files cannot be recovered)
  document.querySelectorAll("form[data-confirm]").forEach((f) => f.addEventListener("submit", (e) => {
    if (!window.confirm(f.dataset.confirm)) e.preventDefault();
  }));
  const hit = document.getElementById("hit");
  if (hit) hit.scrollIntoView({block: "center"});
});
