"use strict";
// Message editor: the field picker inserts template syntax at the cursor; the SMS counter
// counts GSM-7 / UCS-2 characters and segments live (same rules as messages_app/sms.py).
(function () {
  const GSM7_BASIC = new Set(Array.from(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"));
  const GSM7_EXTENDED = new Set(Array.from("^{}\\[~]|€\f"));
  const TEMPLATE_TAG = /\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}|\{#[\s\S]*?#\}/g;
  const MAX_SEGMENTS_WARNING = 3;

  function smsLength(text) {
    const chars = Array.from(text);
    let units, single, multi, encoding;
    if (chars.every((c) => GSM7_BASIC.has(c) || GSM7_EXTENDED.has(c))) {
      units = chars.reduce((n, c) => n + (GSM7_EXTENDED.has(c) ? 2 : 1), 0);
      [single, multi, encoding] = [160, 153, "GSM-7"];
    } else {
      units = text.length; // UTF-16 code units, as UCS-2 counts them
      [single, multi, encoding] = [70, 67, "UCS-2"];
    }
    const segments = units === 0 ? 0 : units <= single ? 1 : Math.ceil(units / multi);
    return { units, segments, encoding, perSegment: units <= single ? single : multi };
  }

  function attachSmsCounter(textarea) {
    if (textarea.dataset.mcCounter) return;
    textarea.dataset.mcCounter = "1";
    const counter = document.createElement("div");
    counter.className = "mc-sms-counter";
    counter.setAttribute("aria-live", "polite");
    textarea.insertAdjacentElement("afterend", counter);
    const update = () => {
      const length = smsLength(textarea.value.replace(TEMPLATE_TAG, ""));
      const units = interpolate(
        ngettext("%(units)s character", "%(units)s characters", length.units), length, true);
      const segments = interpolate(
        ngettext("%(segments)s segment (%(perSegment)s per segment)",
          "%(segments)s segments (%(perSegment)s per segment)", length.segments), length, true);
      counter.textContent = `${units} · ${length.encoding} · ${segments}, ` + gettext("before personalisation");
      counter.classList.toggle("mc-warn", length.segments > MAX_SEGMENTS_WARNING);
    };
    textarea.addEventListener("input", update);
    update();
  }

  function templateFields() {
    return Array.from(document.querySelectorAll(
      "fieldset.mc-template textarea, fieldset.mc-template input[type=text], " +
      ".mc-template fieldset textarea, .mc-template fieldset input[type=text]"))
      .filter((el) => !/language|TOTAL|INITIAL|badge|sound|custom_data/.test(el.name));
  }

  function labelOf(el) {
    const label = document.querySelector(`label[for="${el.id}"]`);
    return label ? label.textContent.replace(/\s*:$/, "") : el.name;
  }

  function init() {
    let target = templateFields()[0] || null;
    const shown = document.getElementById("mc-picker-target");
    const show = () => { if (shown) shown.textContent = target ? labelOf(target) : "-"; };
    document.addEventListener("focusin", (event) => {
      if (templateFields().includes(event.target)) { target = event.target; show(); }
    });
    document.querySelectorAll(".mc-pick").forEach((button) => {
      // Keep the cursor in the field: a click on the button would otherwise blur it first.
      button.addEventListener("mousedown", (event) => event.preventDefault());
      button.addEventListener("click", () => {
        if (!target) return;
        const start = target.selectionStart ?? target.value.length;
        const end = target.selectionEnd ?? start;
        target.setRangeText(button.dataset.insert, start, end, "end");
        target.focus();
        target.dispatchEvent(new Event("input", { bubbles: true }));
      });
    });
    show();
    const counters = () => document.querySelectorAll("textarea[name$='sms_text']").forEach(attachSmsCounter);
    counters();
    // Language variants added with "Add another" get a counter too.
    document.addEventListener("formset:added", counters);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
