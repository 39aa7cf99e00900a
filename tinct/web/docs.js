// Renders /openapi.json as a readable reference: endpoints, form fields, parameters, responses.
"use strict";

(async () => {
  const ops = document.getElementById("ops");
  document.getElementById("example").textContent =
    `curl -F file=@photo.jpg -F format=png -o photo_color.png ${location.origin}/api/v1/colorize`;

  const h = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    node.append(...children.filter((c) => c != null));
    return node;
  };

  let spec;
  try {
    const res = await fetch("/openapi.json");
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    spec = await res.json();
  } catch (e) {
    ops.replaceChildren(h("p", { class: "alert" }, `Could not load /openapi.json: ${e.message}`));
    return;
  }

  const resolve = (schema) => {
    while (schema && schema.$ref) {
      schema = schema.$ref.replace(/^#\//, "").split("/").reduce((o, k) => o[k], spec);
    }
    return schema || {};
  };
  const typeOf = (schema) => {
    schema = resolve(schema);
    if (schema.anyOf) return schema.anyOf.map(typeOf).filter((t) => t !== "null").join(" | ");
    if (schema.format === "binary" || schema.contentMediaType) return "file";
    if (schema.type === "array") return `${typeOf(schema.items)}[]`;
    return schema.type || "object";
  };
  const table = (head, rows) => h("table", {},
    h("thead", {}, h("tr", {}, ...head.map((c) => h("th", {}, c)))),
    h("tbody", {}, ...rows.map((r) => h("tr", {}, ...r.map((c) => h("td", {}, c))))));

  const sections = [];
  for (const [path, methods] of Object.entries(spec.paths || {})) {
    for (const [method, op] of Object.entries(methods)) {
      const body = h("div", { class: "body" });
      if (op.description) body.append(h("p", {}, op.description));
      const params = (op.parameters || []).map((p) => [h("code", {}, p.name), p.in, typeOf(p.schema),
        p.required ? "required" : "optional"]);
      if (params.length) body.append(h("h3", {}, "Parameters"), table(["name", "in", "type", ""], params));
      for (const [ctype, media] of Object.entries((op.requestBody && op.requestBody.content) || {})) {
        const schema = resolve(media.schema);
        const required = new Set(schema.required || []);
        const rows = Object.entries(schema.properties || {}).map(([name, prop]) => [
          h("code", {}, name), typeOf(prop), required.has(name) ? "required" : "optional",
          resolve(prop).description || "",
        ]);
        body.append(h("h3", {}, `Request body (${ctype})`), table(["field", "type", "", "description"], rows));
      }
      const responses = Object.entries(op.responses || {}).map(([code, r]) => [
        h("code", {}, code), r.description || "", Object.keys(r.content || {}).join(", "),
      ]);
      body.append(h("h3", {}, "Responses"), table(["status", "meaning", "content"], responses));
      sections.push(h("details", { class: "op", open: "" },
        h("summary", {}, h("span", { class: `method ${method}` }, method.toUpperCase()),
          h("span", { class: "path" }, path), h("span", { class: "summary" }, op.summary || "")),
        body));
    }
  }
  ops.replaceChildren(...sections);
})();
