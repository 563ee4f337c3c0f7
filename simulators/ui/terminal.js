// The virtual terminal page: shows the terminal's state as the server's event
// stream sends it (one "state" event per change) and sends what a person
// does (keys, cards, the host's and the SBP customer's switches) as small
// JSON POSTs carrying the page's token. Text goes in with textContent only.
"use strict";

(function () {
  const token = document.querySelector('meta[name="cardcore-token"]').content;
  const writable = document.body.classList.contains("writable") && token !== "";
  const $ = (id) => document.getElementById(id);
  let tonesHeard = null;
  let audio = null;

  // --- acting ---------------------------------------------------------------
  const routes = {
    key: (b) => ["/api/key", { key: b.dataset.key }],
    card: (b) => ["/api/card", { profile: b.dataset.profile, how: b.dataset.how }],
    remove: () => ["/api/remove", {}],
    host: (b) => ["/api/host", { mode: b.dataset.mode }],
    sbp: (b) => ["/api/sbp", { mode: b.dataset.mode }],
  };

  function showError(text) {
    const box = $("error");
    box.textContent = text;
    box.hidden = !text;
    if (text) {
      clearTimeout(showError.timer);
      showError.timer = setTimeout(() => { box.hidden = true; }, 6000);
    }
  }

  async function act(button) {
    const route = routes[button.dataset.act];
    if (!route || !writable) return;
    const [path, body] = route(button);
    try {
      const answer = await fetch(path, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-Cardcore-Token": token },
        body: JSON.stringify(body),
      });
      if (!answer.ok) {
        const data = await answer.json().catch(() => ({}));
        showError(data.message || answer.status + " " + answer.statusText);
      }
    } catch (error) {
      showError("the terminal cannot be reached: " + error);
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-act]");
    if (!button || button.disabled) return;
    wakeAudio();
    act(button);
  });

  // The computer's keyboard works the keypad too.
  const keyboard = { Enter: "ok", Escape: "cancel", Backspace: "clear", Delete: "clear" };
  document.addEventListener("keydown", (event) => {
    if (!writable || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = /^[0-9]$/.test(event.key) ? event.key : keyboard[event.key];
    if (!key) return;
    const button = document.querySelector('[data-testid="keypad-' + key + '"]');
    if (!button) return;
    event.preventDefault();
    button.classList.add("pressed");
    setTimeout(() => button.classList.remove("pressed"), 120);
    wakeAudio();
    act(button);
  });

  // --- tones (EMV Contactless Book A 9.5: success 1500 Hz 500 ms; alert
  // two 750 Hz beeps of 200 ms); browsers play sound only after a click.
  function wakeAudio() {
    if (audio === null && window.AudioContext) {
      try { audio = new AudioContext(); } catch (error) { audio = false; }
    }
  }

  function beep(tone) {
    if (!audio) return;
    const parts = tone === "success" ? [[1500, 0, 0.5]] : [[750, 0, 0.2], [750, 0.4, 0.2]];
    for (const [frequency, start, length] of parts) {
      const oscillator = audio.createOscillator();
      const gain = audio.createGain();
      gain.gain.value = 0.08;
      oscillator.frequency.value = frequency;
      oscillator.connect(gain).connect(audio.destination);
      oscillator.start(audio.currentTime + start);
      oscillator.stop(audio.currentTime + start + length);
    }
  }

  // --- showing -------------------------------------------------------------
  function rows(body, items, cells) {
    body.replaceChildren(...items.map((item) => {
      const row = document.createElement("tr");
      for (const value of cells(item)) {
        const cell = document.createElement("td");
        cell.textContent = value;
        row.appendChild(cell);
      }
      return row;
    }));
  }

  function pressed(selector, active) {
    for (const button of document.querySelectorAll(selector)) {
      button.setAttribute("aria-pressed", String(button.dataset.mode === active));
    }
  }

  function render(state) {
    const display = state.display;
    const message = document.querySelector('[data-testid="display"]');
    $("display-text").textContent = display ? display.text : "";
    $("display-amount").textContent = display ? display.amount : "";
    message.lang = display && display.language ? display.language : "";
    message.dataset.code = display ? display.code : "";
    const log = $("display-log");
    log.replaceChildren(...state.log.map((shown) => {
      const item = document.createElement("li");
      item.textContent = shown.amount ? shown.text + "  " + shown.amount : shown.text || "(cleared)";
      item.lang = shown.language || "";
      return item;
    }));

    document.querySelectorAll(".led").forEach((led, i) => {
      led.classList.toggle("on", Boolean(state.lights[i]));
    });
    const leds = document.querySelector('[data-testid="leds"]');
    leds.dataset.lights = state.lights.map((on) => (on ? "1" : "0")).join("");
    const tone = state.tone;
    const toneShown = $("tone");
    toneShown.dataset.last = tone ? tone.name : "";
    toneShown.dataset.count = tone ? String(tone.count) : "0";
    if (tone && tonesHeard !== null && tone.count > tonesHeard) {
      const shown = $("tone");
      shown.textContent = "♪ " + tone.name;
      shown.className = "tone sounding " + tone.name;
      setTimeout(() => { shown.className = "tone"; shown.textContent = ""; }, 900);
      beep(tone.name);
    }
    tonesHeard = tone ? tone.count : 0;

    const pin = $("pin");
    pin.hidden = state.pin === null;
    pin.textContent = state.pin ? "PIN  " + "•".repeat(state.pin.typed) + "_" : "";
    const prompt = $("prompt");
    prompt.hidden = !state.confirm;
    prompt.textContent = state.confirm ? state.confirm : "";

    const qr = $("qr");
    const image = $("qr-image");
    if (state.qr) {
      const source = "/qr.svg?qr=" + state.qr.tag;
      if (image.getAttribute("src") !== source) image.setAttribute("src", source);
      $("qr-link").textContent = state.qr.payload;
      qr.hidden = false;
    } else {
      qr.hidden = true;
      image.removeAttribute("src");
    }

    document.body.dataset.waiting = state.waiting || "";
    $("attended").textContent = !writable ? "" : state.waiting === "pin"
      ? "The PIN pad waits for the PIN: type it on the keypad, then OK."
      : state.waiting === "confirm"
        ? "The terminal asks for a confirmation: OK or Cancel."
        : "While this page is open, the keypad here enters PINs and confirms.";

    const field = state.field.map((c) => c.profile + " (" + c.interface + ")");
    $("field").textContent = field.length ? field.join(", ") : "none";
    const inField = new Set(state.field.map((c) => c.profile));
    for (const card of document.querySelectorAll(".card")) {
      card.classList.toggle("in-field", inField.has(card.dataset.profile));
    }

    if (state.host) {
      $("host-mode").textContent = state.host.mode;
      pressed('[data-act="host"]', state.host.mode);
      const on = Object.entries(state.host.switches).filter(([, v]) => v).map(([k]) => k);
      $("host-switches").textContent = on.length ? on.join(", ") : "agrees";
    }
    rows($("ledger"), state.ledger, (r) => [r.stan, r.type, r.amount, r.reversed, r.response, r.rrn]);

    if (state.sbp) {
      $("sbp-mode").textContent = document.querySelector(
        '[data-act="sbp"][data-mode="' + state.sbp + '"]').title || state.sbp;
      pressed('[data-act="sbp"]', state.sbp);
    }

    $("receipt").textContent = state.slip ? state.slip.join("\n") : "No transaction yet.";
    $("journal-error").textContent = state["journal-error"] || "";
    rows($("journal"), state.recent, (r) => [
      r.seq, r.time, r.type, r.amount, r.pan || r.interface, r.tstatus || r.state,
    ]);
  }

  // --- the event stream -------------------------------------------------------
  const link = $("link");
  const events = new EventSource(writable ? "/events?token=" + encodeURIComponent(token) : "/events");
  events.addEventListener("state", (event) => {
    link.textContent = "live";
    link.className = "link live";
    render(JSON.parse(event.data));
  });
  events.addEventListener("error", () => {
    link.textContent = "reconnecting…";
    link.className = "link lost";
  });
})();
