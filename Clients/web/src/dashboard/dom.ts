/**
 * DOM helpers that only ever put data into the page as text: `textContent` and text nodes,
 * attributes set with `setAttribute` (never `innerHTML`, never a string of code), handlers
 * attached with `addEventListener`. Everything the dashboard shows goes through them.
 */

const SVG = "http://www.w3.org/2000/svg";

/** An HTML element with `text` as its text (never parsed as markup). */
export function element<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className !== undefined) node.className = className;
  return node;
}

/** An SVG element with attributes set one by one. */
export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number> = {}): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

/** A button that calls `action` when clicked. */
export function button(label: string, action: () => void, className?: string): HTMLButtonElement {
  const b = element("button", label, className);
  b.type = "button";
  b.addEventListener("click", action);
  return b;
}

/** The element with this id (the page's structure is fixed: a missing one is a bug). */
export function byId<T extends HTMLElement | SVGElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`dashboard: no #${id} in the page`);
  // The page defines each id once with the element type the caller names.
  return found as unknown as T;
}

/** Any JSON value as one line of text (strings as JSON too, so `"` marks them). */
export function jsonText(value: unknown): string {
  return value === undefined ? "" : String(JSON.stringify(value));
}

/**
 * The operator's token. It arrives in the fragment (`#token=…`: fragments never reach the
 * server, its logs or a Referer) or, from older links, the query; it is kept in this tab's
 * sessionStorage (a reload still works) and removed from the address bar.
 */
export function takeToken(): string {
  const key = "eddy.dashboard.token";
  const fragment = new URLSearchParams(location.hash.slice(1));
  const query = new URLSearchParams(location.search);
  const given = fragment.get("token") ?? query.get("token");
  if (given === null) {
    try { return sessionStorage.getItem(key) ?? ""; } catch { return ""; }
  }
  try { sessionStorage.setItem(key, given); } catch { /* storage disabled: this load only */ }
  fragment.delete("token");
  query.delete("token");
  const search = query.toString(), hash = fragment.toString();
  history.replaceState(history.state, "", location.pathname + (search ? "?" + search : "") + (hash ? "#" + hash : ""));
  return given;
}
