// Small DOM helpers. Text always goes in through textContent, never innerHTML:
// usernames and messages come from other people.

export const $ = (id) => document.getElementById(id);

export function element(tag, { className, text, attrs } = {}, children = []) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

export function showError(node, text) {
  node.textContent = text || "";
}

export function localTime(milliseconds) {
  return new Date(milliseconds).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
