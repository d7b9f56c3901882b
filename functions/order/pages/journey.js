// journey.js — the order detail page, with JavaScript on.
//
// It keeps the journey up to date by asking the order, shipping and invoicing
// JSON APIs through the gateway (../shipping/api/shipments/{id} relative to
// the page), until both sides have the order. It shows only what an API
// said: a step no API has confirmed stays "waiting", and an API that cannot
// be reached (the page was opened on the function itself, without the
// gateway) is shown as such. It also asks before cancelling.
"use strict";

(function () {
  const journey = document.getElementById("journey");
  if (journey) {
    follow(journey);
  }
  const trace = document.getElementById("trace");
  if (trace && document.getElementById("trace-raw")) {
    followTrace(trace);
  }
  const cancel = document.getElementById("cancel-order");
  if (cancel) {
    cancel.addEventListener("click", function (ev) {
      ev.preventDefault();
      if (!window.confirm(cancel.dataset.question)) {
        return;
      }
      // The same post the confirmation without JavaScript sends.
      const form = document.createElement("form");
      form.method = "post";
      form.action = cancel.dataset.action;
      const confirmed = document.createElement("input");
      confirmed.type = "hidden";
      confirmed.name = "confirm";
      confirmed.value = "yes";
      form.appendChild(confirmed);
      document.body.appendChild(form);
      form.submit();
    });
  }

  function follow(list) {
    const created = Date.parse(list.dataset.created);
    const status = list.dataset.status;
    const cancelled = status === "cancelled";
    const line = document.getElementById("journey-status");
    const started = Date.now();
    let published = !!list.querySelector('[data-step="published"].done');
    let stopped = false;
    const seen = {}; // when this page first saw a step that its service keeps no time for

    // say puts text in the status line, a live region: only a change is
    // announced, so the same text is not set again.
    function say(text) {
      if (line.textContent !== text) {
        line.textContent = text;
      }
    }

    function step(name) {
      return list.querySelector('[data-step="' + name + '"]');
    }

    // set shows a step as state ("done", "pending", "unknown") with its time
    // (a Date, or a word) and its explanation.
    function set(name, state, when, detail) {
      const li = step(name);
      if (!li) {
        return;
      }
      li.classList.remove("done", "pending", "unknown");
      li.classList.add(state);
      li.querySelector(".mark").textContent = state === "done" ? (li.classList.contains("cancel") ? "✕" : "✓") : state === "pending" ? "…" : "?";
      li.querySelector(".sr").textContent = state === "done" ? "Done: " : state === "pending" ? "Waiting: " : "Unknown: ";
      const w = li.querySelector(".when");
      w.textContent = "";
      if (when instanceof Date) {
        const t = document.createElement("time");
        t.dateTime = when.toISOString();
        t.textContent = when.toISOString().slice(11, 23);
        const gap = document.createElement("span");
        gap.className = "muted";
        gap.textContent = elapsed(when.getTime() - created);
        w.append(t, " ", gap);
      } else {
        w.textContent = when;
      }
      if (detail !== undefined) {
        const d = li.querySelector(".detail");
        d.textContent = "";
        d.append.apply(d, detail);
      }
    }

    // ask fetches one API: {ok, data} for 200, {absent} for the API's own
    // 404 (a JSON answer: the sink is there but has no record yet), and
    // {unreachable, why} for everything else.
    async function ask(url) {
      try {
        const resp = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
        const json = (resp.headers.get("Content-Type") || "").startsWith("application/json");
        if (resp.ok && json) {
          return { ok: true, data: await resp.json() };
        }
        if (resp.status === 404 && json) {
          return { absent: true };
        }
        return { unreachable: true, status: resp.status, json: json };
      } catch (err) {
        return { unreachable: true };
      }
    }

    function code(text) {
      const c = document.createElement("code");
      c.textContent = text;
      return c;
    }

    function link(href, text) {
      const a = document.createElement("a");
      a.href = href;
      a.textContent = text;
      return a;
    }

    // sink updates the steps of one side (shipping or invoicing) from its answer.
    function sink(answer, created, cancelledStep, names) {
      if (answer.ok) {
        set(created, "done", new Date(answer.data.created), [names.recorded + " ", link(names.page, names.look), "."]);
        if (cancelled) {
          if (answer.data.cancelled) {
            seen[cancelledStep] = seen[cancelledStep] || new Date();
            set(cancelledStep, "done", "seen " + seen[cancelledStep].toISOString().slice(11, 19),
              [names.cancelledDone + " (" + names.who + " keeps no time for it: the time is when this page saw it)."]);
          } else {
            set(cancelledStep, "pending", "waiting", [names.cancelledWait]);
          }
        }
        return cancelled ? answer.data.cancelled : true;
      }
      if (answer.absent) {
        set(created, "pending", "waiting", [names.wait]);
        if (cancelled) {
          set(cancelledStep, "pending", "waiting", [names.cancelledWait]);
        }
        return false;
      }
      const got = !answer.status ? "the request failed"
        : answer.json ? "it answered HTTP " + answer.status
          : "the answer, HTTP " + answer.status + ", did not come from " + names.who.toLowerCase();
      const why = [names.who + " cannot be reached from this address (" + got + "). " +
        "Is this page open on the order function itself, not through the gateway? Open it through the gateway to see this step."];
      set(created, "unknown", "not reachable", why);
      if (cancelled) {
        set(cancelledStep, "unknown", "not reachable", why);
      }
      return null; // unknown, and it will stay so
    }

    async function round() {
      const [order, shipment, invoice] = await Promise.all([
        ask(list.dataset.order), ask(list.dataset.shipment), ask(list.dataset.invoice)]);
      if (order.ok) {
        if (order.data.status !== status) {
          // Cancelled elsewhere meanwhile: the page shows other steps now.
          window.location.reload();
          return true;
        }
        if (order.data.published) {
          published = true;
          set("published", "done", new Date(order.data.published),
            ["The outbox relay sent the CloudEvent ", code("com.example.order.placed"), " (id ", code(order.data.eventId || "?"),
              ", key " + order.data.id + ") to the topic ", code("order"), "."]);
        }
      }
      const shipped = sink(shipment, "shipment", "shipment-cancelled", {
        who: "Shipping", recorded: "Shipping recorded the shipment:", look: "see it in shipping",
        page: list.dataset.shipment.replace("api/shipments/", ""),
        wait: "Not in shipping yet: the event is on its way through Kafka.",
        cancelledDone: "Shipping has marked the shipment \u201cdo not ship\u201d",
        cancelledWait: "Shipping has not seen the cancellation yet.",
      });
      const invoiced = sink(invoice, "invoice", "invoice-cancelled", {
        who: "Invoicing", recorded: "Invoicing recorded the invoice:", look: "see it in invoicing",
        page: list.dataset.invoice.replace("api/invoices/", ""),
        wait: "Not in invoicing yet: the event is on its way through Kafka.",
        cancelledDone: "Invoicing has voided the invoice",
        cancelledWait: "Invoicing has not seen the cancellation yet.",
      });
      const finished = published && shipped !== false && invoiced !== false;
      if (shipped === null || invoiced === null) {
        say(published
          ? "Shipping or invoicing cannot be reached from this address; the other steps are as shown."
          : "Waiting for Kafka; shipping or invoicing cannot be reached from this address.");
        return finished;
      }
      if (finished) {
        say(cancelled
          ? "Done: shipping and invoicing both have the cancellation."
          : "Done: shipping and invoicing both have the order.");
        return true;
      }
      say(!published
        ? "Waiting for Kafka: the order is still in the outbox. This page keeps checking…"
        : cancelled
          ? "Waiting for shipping and invoicing to see the cancellation. This page keeps checking…"
          : "Waiting for shipping and invoicing. This page keeps checking…");
      return false;
    }

    async function loop() {
      if (stopped) {
        return;
      }
      const done = await round();
      if (done) {
        return;
      }
      const age = Date.now() - started;
      if (age > 5 * 60 * 1000) {
        stopped = true;
        say("Stopped checking after 5 minutes. ");
        line.append(link(window.location.pathname.split("/").pop(), "Reload"), " to check again.");
        return;
      }
      // Every second while things usually happen, then less often.
      setTimeout(loop, age < 30 * 1000 ? 1000 : 5000);
    }

    loop();
  }

  function elapsed(ms) {
    if (ms < 0) {
      ms = 0;
    }
    if (ms < 60000) {
      return "+" + (ms / 1000).toFixed(3) + " s";
    }
    const s = Math.round(ms / 1000);
    return "+" + Math.floor(s / 60) + "m" + (s % 60) + "s";
  }

  // followTrace reloads the trace section from the page itself (the server
  // lays the waterfall out) until a trace reaches both sinks, for a minute
  // at most: spans reach the trace store a moment after they end.
  function followTrace(section) {
    const until = Date.now() + 60000;
    async function again() {
      if (section.dataset.complete === "true" || Date.now() > until) {
        return;
      }
      try {
        const resp = await fetch(window.location.pathname, { headers: { Accept: "text/html" }, cache: "no-store" });
        if (resp.ok) {
          const page = new DOMParser().parseFromString(await resp.text(), "text/html");
          const fresh = page.getElementById("trace");
          if (fresh) {
            section.replaceChildren.apply(section, Array.from(fresh.childNodes).map(function (n) { return document.importNode(n, true); }));
            section.dataset.complete = fresh.dataset.complete;
          }
          // The steps that woke a function from zero, as the trace shows them.
          page.querySelectorAll("#journey .woke").forEach(function (woke) {
            const what = document.querySelector('#journey [data-step="' + woke.closest("li").dataset.step + '"] .what');
            if (what && !what.querySelector(".woke")) {
              what.append(" ", document.importNode(woke, true));
            }
          });
        }
      } catch (err) {
        // The next round tries again.
      }
      window.setTimeout(again, 2000);
    }
    window.setTimeout(again, 1000);
  }
})();
