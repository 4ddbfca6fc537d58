'use strict';
// The event configuration page: each field's and enrichment's collection choices follow the IDs
// typed in the Collections table, so that a field can go into a collection added in the same save.
// A collection renamed here keeps its fields and enrichments.
(function () {
  const ID_INPUT = 'input[name^="collections-"][name$="-collection_id"]';
  const CHOICE = 'select.collection-choice';

  function deleted(input) {
    const box = document.querySelector(`input[name="${input.name.replace(/collection_id$/, 'DELETE')}"]`);
    return Boolean(box && box.checked);
  }

  function collectionIds() {
    const ids = Array.from(document.querySelectorAll(ID_INPUT))
      .filter((input) => !input.name.includes('__prefix__') && !deleted(input))
      .map((input) => input.value.trim())
      .filter(Boolean);
    return Array.from(new Set(ids));
  }

  function refresh() {
    const ids = collectionIds();
    document.querySelectorAll(CHOICE).forEach((select) => {
      const chosen = select.value;
      // Keep a chosen ID that no longer exists: the save then says so instead of moving the row.
      const wanted = chosen && !ids.includes(chosen) ? [...ids, chosen] : ids;
      while (select.options.length > 1) select.remove(1);
      wanted.forEach((id) => select.add(new Option(id, id)));
      select.value = chosen;
    });
  }

  function follow(before, after) {
    document.querySelectorAll(CHOICE).forEach((select) => {
      if (before && select.value === before) {
        if (!Array.from(select.options).some((option) => option.value === after)) {
          select.add(new Option(after, after));
        }
        select.value = after;
      }
    });
  }

  document.addEventListener('focusin', (event) => {
    if (event.target.matches(ID_INPUT)) event.target.dataset.previous = event.target.value.trim();
  });
  document.addEventListener('input', (event) => {
    if (!event.target.matches(ID_INPUT)) return;
    const after = event.target.value.trim();
    if (after) follow(event.target.dataset.previous || '', after);
    event.target.dataset.previous = after;
    refresh();
  });
  document.addEventListener('change', (event) => {
    if (event.target.matches('input[name$="-DELETE"]')) refresh();
  });
  document.addEventListener('formset:added', refresh);
  document.addEventListener('formset:removed', refresh);
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', refresh);
  } else {
    refresh();
  }
})();
