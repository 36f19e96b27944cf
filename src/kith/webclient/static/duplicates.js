// Duplicates: candidate groups strongest first; a merge is previewed (dry run) before it is made, and can be undone.
"use strict";

const reasonText = (r) => (r.kind === "name_company" ? `similar names at ${r.value}` : `same ${r.kind} ${r.value}`);

function mergeBody(group, dryRun) {
  const [survivor, ...merged] = group.contact_ids;
  return JSON.stringify({ survivor_id: survivor, merge_ids: merged, dry_run: dryRun });
}

async function postJson(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body });
}

function mergedCard(result) {
  const rows = result.card.map((v) =>
    el(
      "tr",
      {},
      el("td", {}, v.field),
      el("td", {}, Array.isArray(v.value) ? v.value.filter((x) => x !== null).join("-") : String(v.value)),
      el("td", { class: "muted" }, `#${v.contact_id}${v.source ? ` · ${v.source.source}` : ""}`),
    ),
  );
  return el("table", { class: "merged-card" }, el("tbody", {}, rows));
}

function groupRow(group) {
  const detail = el("div", { class: "merge-detail" });
  const row = el(
    "li",
    { class: "duplicate-group", dataset: { id: group.id } },
    el("span", { class: "name" }, group.contacts.map((c) => c.full_name).join(" · ")),
    el("span", { class: "muted" }, group.reasons.map(reasonText).join("; ")),
    el("span", { class: "score", title: "confidence" }, Number(group.confidence).toFixed(2)),
    el("button", { class: "preview", onclick: () => preview(group, detail) }, "Preview merge"),
    el("button", { class: "dismiss", onclick: () => dismiss(group, row) }, "Not duplicates"),
    detail,
  );
  return row;
}

async function preview(group, detail) {
  try {
    const result = (await postJson(`${API}/contacts/merge`, mergeBody(group, true))).body;
    detail.replaceChildren(
      el("p", {}, `Keeps #${result.survivor_id}; ${result.messages_moved} messages move to it.`),
      mergedCard(result),
      el("button", { class: "merge", onclick: () => mergeGroup(group, detail) }, "Merge"),
    );
  } catch (error) {
    detail.replaceChildren(el("p", { class: "error" }, error.message));
  }
}

async function mergeGroup(group, detail) {
  try {
    const result = (await postJson(`${API}/contacts/merge`, mergeBody(group, false))).body;
    detail.replaceChildren(
      el("p", {}, `Merged into #${result.survivor_id}.`),
      el("button", { class: "undo", onclick: () => undoMerge(result.merge_id, detail) }, "Undo"),
    );
  } catch (error) {
    detail.replaceChildren(el("p", { class: "error" }, error.message));
  }
}

async function undoMerge(mergeId, detail) {
  try {
    const result = (await postJson(`${API}/merges/${mergeId}/undo`, "")).body;
    detail.replaceChildren(el("p", {}, `Undone: #${result.restored_ids.join(", #")} restored.`));
  } catch (error) {
    detail.replaceChildren(el("p", { class: "error" }, error.message));
  }
}

async function dismiss(group, row) {
  try {
    await postJson(`${API}/contacts/duplicates/${group.id}/dismiss`, "");
    row.remove();
  } catch (error) {
    row.append(el("p", { class: "error" }, error.message));
  }
}

async function loadDuplicates() {
  try {
    const page = await api(`${API}/contacts/duplicates?limit=50`);
    $("#duplicates").replaceChildren(...page.body.items.map(groupRow));
    if (!page.body.items.length) $("#duplicates").append(el("li", { class: "muted" }, "No duplicates found."));
  } catch (error) {
    showError($("#duplicates"), error);
  }
}

loaders.duplicates = loadDuplicates;
