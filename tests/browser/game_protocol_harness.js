// Runs in the browser (page.evaluate) with the page's own game module: several
// GameControllers ("tabs") joined by an in-memory relay with the semantics of /forward
// (docs/protocol.md, "`/forward`"), whose deliveries wait in a queue until flush(), so that a
// test can stage messages that cross each other.
async () => {
  const { GameController } = await import("/web/static/game.js");

  class MemoryStorage {
    constructor() { this.items = new Map(); }
    getItem(key) { return this.items.has(key) ? this.items.get(key) : null; }
    setItem(key, value) { this.items.set(key, String(value)); }
    removeItem(key) { this.items.delete(key); }
  }

  const tabs = new Set();
  const queue = [];

  function openTab(user, storage) {
    const tab = { user, storage };
    const send = async (target, payload) => {
      const targetOnline = [...tabs].some((other) => other.user.id === target);
      if (!targetOnline) return { ok: false, error: "target_offline", message: "offline" };
      for (const other of tabs) {
        if (other === tab || (other.user.id !== target && other.user.id !== user.id)) continue;
        queue.push({ to: other, message: { ...payload, target, sender: user.id } });
      }
      return { ok: true };
    };
    tab.game = new GameController({ me: user, send, storage });
    tabs.add(tab);
    return tab;
  }

  function closeTab(tab) {
    tabs.delete(tab);
  }

  async function flush() {
    for (let rounds = 0; queue.length && rounds < 1000; rounds += 1) {
      const { to, message } = queue.shift();
      if (tabs.has(to)) to.game.receive(message);
      await new Promise((resolve) => setTimeout(resolve, 0)); // let sends made in reply run
    }
  }

  const moves = (tab) => (tab.game.game ? tab.game.game.moves.join(",") : null);

  window.harness = { openTab, closeTab, flush, queue, moves, MemoryStorage };
};
