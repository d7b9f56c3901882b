// form.js — the new-order form, with JavaScript on.
//
// Without it the form works by round trips: "Add line" and "Remove" post the
// form and the server shows it again with one line more or less. With it
// those buttons change the page at once, the running total is shown, and
// the box of problems takes the focus after a refused order. The server
// still checks everything when the order is placed.
"use strict";

(function () {
  const form = document.querySelector("form.order");
  if (!form) {
    return;
  }
  const lines = document.getElementById("lines");
  const add = document.getElementById("add-line");
  const total = document.getElementById("total");
  const maxLines = 50;

  const problems = document.getElementById("problems");
  if (problems) {
    problems.focus();
  }

  form.addEventListener("click", function (ev) {
    const button = ev.target.closest("button[name=action]");
    if (!button) {
      return;
    }
    if (button.value === "add-line") {
      ev.preventDefault();
      addLine();
    } else if (button.value.startsWith("remove-line-")) {
      ev.preventDefault();
      removeLine(button.closest(".line"));
    }
  });
  form.addEventListener("input", showTotal);
  form.addEventListener("change", showTotal);

  function all() {
    return Array.from(lines.querySelectorAll(".line"));
  }

  function addLine() {
    const list = all();
    if (list.length >= maxLines) {
      return;
    }
    const last = list[list.length - 1];
    const line = last.cloneNode(true);
    line.querySelectorAll(".field-error").forEach(function (p) { p.remove(); });
    line.querySelectorAll("[aria-invalid]").forEach(function (el) {
      el.removeAttribute("aria-invalid");
      el.removeAttribute("aria-describedby");
    });
    line.querySelector("select").value = "";
    line.querySelector("input").value = "1";
    last.after(line);
    renumber();
    line.querySelector("select").focus();
    showTotal();
  }

  function removeLine(line) {
    const list = all();
    if (list.length <= 1) {
      return;
    }
    const next = list[list.indexOf(line) + 1];
    line.remove();
    renumber();
    (next ? next.querySelector("select") : add).focus();
    showTotal();
  }

  // renumber gives the lines' inputs, labels and buttons the ids and names
  // the server gives them, so labels and messages stay tied to their inputs.
  function renumber() {
    const list = all();
    list.forEach(function (line, i) {
      const select = line.querySelector("select");
      const count = line.querySelector("input");
      const labels = line.querySelectorAll("label");
      select.id = "item" + i;
      count.id = "count" + i;
      labels[0].htmlFor = select.id;
      labels[1].htmlFor = count.id;
      line.querySelectorAll("label .sr").forEach(function (s) { s.textContent = "of line " + (i + 1); });
      line.querySelectorAll(".field-error").forEach(function (p) {
        const input = p.id.startsWith("item") ? select : count;
        p.id = input.id + "-error";
        input.setAttribute("aria-describedby", p.id);
      });
      const remove = line.querySelector("button.remove");
      remove.value = "remove-line-" + i;
      remove.querySelector(".sr").textContent = "line " + (i + 1);
      remove.disabled = list.length === 1;
    });
    add.disabled = list.length >= maxLines;
  }

  // showTotal adds up the lines that have an item and a sensible count.
  function showTotal() {
    let cents = 0;
    let counted = 0;
    all().forEach(function (line) {
      const option = line.querySelector("select").selectedOptions[0];
      const n = Number(line.querySelector("input").value.trim());
      if (option && option.dataset.price && Number.isInteger(n) && n >= 1 && n <= 1000) {
        cents += Math.round(Number(option.dataset.price) * 100) * n;
        counted++;
      }
    });
    total.hidden = counted === 0;
    total.textContent = "Total: " + (cents / 100).toFixed(2) + " €";
  }

  showTotal();
})();
