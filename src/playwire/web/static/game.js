// A two-player game played through /forward only: the server relays, it knows no rules.
// Protocol (every message also carries `target`; the server adds `sender`), see
// docs/web-client.md:
//   invite {game_id, x, o}     x (the inviter, moves first) and o are {id, username}
//   cancel {game_id}           the inviter withdraws
//   accept {game_id, x, o}     the game starts
//   decline {game_id, reason?} reason "busy" when already playing
//   move {game_id, cell, seq}  seq: index of the move, 0 for the first
//   resign {game_id}
//   abort {game_id}            an accept arrived when the inviter was already playing
//   state_request {game_id?}   a tab that (re)connects asks for the game
//   state {game_id, x, o, moves, resigned_by, correction?}
//                              correction: the opponent overrules two moves made at once
// The sending tab does not get its own message back but the sender's other tabs do, so a
// tab applies its own actions at once, and treats a message whose sender is its own user
// as something another of its tabs did.

import { isLegalMove, markOfMove, resultOf } from "./tictactoe.js";

const HINT_KEY = "playwire.game.";

function newGameId() {
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

const ROOM_NAME = /^[A-Za-z0-9_\-:.]{1,64}$/;

/** The /chat room of a game (docs/web-client.md, "Game rooms"), or null if the game id
 * (which came from the other player's page) cannot name one. */
export function gameRoom(gameId) {
  const name = `game:${gameId}`;
  return ROOM_NAME.test(name) ? name : null;
}

const player = (user) => ({ id: user.id, username: user.username });

const gameOf = (invitation) => ({ id: invitation.gameId, x: invitation.x, o: invitation.o });

export class GameController extends EventTarget {
  /** send(target, payload) emits a forward and resolves to its ack. */
  constructor({ me, send, storage = window.localStorage }) {
    super();
    this.me = player(me);
    this.send = send;
    this.storage = storage;
    this.game = null; // {id, x, o, moves, resignedBy, aborted}
    this.outgoing = null; // {gameId, x, o}
    this.incoming = new Map(); // gameId -> {gameId, x, o}
    this.closedIds = new Set(); // games this tab closed: never revived by a late state
    this.notice = "";
    this.error = "";
  }

  // --- what the view asks ---------------------------------------------------------------

  get active() {
    return Boolean(this.game) && !this.outcome();
  }

  canInvite() {
    return !this.active && !this.outgoing;
  }

  opponent() {
    return this.game.x.id === this.me.id ? this.game.o : this.game.x;
  }

  myMark() {
    return this.game.x.id === this.me.id ? "X" : "O";
  }

  playerToMove() {
    return markOfMove(this.game.moves.length) === "X" ? this.game.x : this.game.o;
  }

  isMyTurn() {
    return this.active && this.playerToMove().id === this.me.id;
  }

  /** null while the game goes on, else {kind: "win"|"draw"|"resign"|"aborted", winner?}. */
  outcome() {
    const game = this.game;
    if (!game) return null;
    if (game.aborted) return { kind: "aborted" };
    if (game.resignedBy !== null) {
      const winner = game.resignedBy === game.x.id ? game.o : game.x;
      return { kind: "resign", winner };
    }
    const result = resultOf(game.moves);
    if (result?.kind === "win") return { ...result, winner: result.mark === "X" ? game.x : game.o };
    return result;
  }

  // --- what the player does ---------------------------------------------------------------

  async invite(user) {
    if (!this.canInvite() || user.id === this.me.id) return;
    const invitation = { gameId: newGameId(), x: this.me, o: player(user) };
    this.outgoing = invitation;
    this.say("");
    const reply = await this.forward(user.id, "invite", invitation);
    if (!reply.ok && this.outgoing === invitation) this.outgoing = null;
    this.changed();
  }

  async cancelInvite() {
    const invitation = this.outgoing;
    if (!invitation) return;
    this.outgoing = null;
    this.changed();
    await this.forward(invitation.o.id, "cancel", { gameId: invitation.gameId });
  }

  async accept(gameId) {
    const invitation = this.incoming.get(gameId);
    if (!invitation || this.active) return;
    this.start({ id: gameId, x: invitation.x, o: invitation.o });
    const reply = await this.forward(invitation.x.id, "accept", invitation);
    if (!reply.ok && this.game?.id === gameId && this.game.moves.length === 0) {
      this.game = null;
      this.forgetHint();
      this.changed();
    }
  }

  async decline(gameId) {
    const invitation = this.incoming.get(gameId);
    if (!invitation) return;
    this.incoming.delete(gameId);
    this.changed();
    await this.forward(invitation.x.id, "decline", { gameId });
  }

  async play(cell) {
    if (!this.isMyTurn() || !isLegalMove(this.game.moves, cell)) return;
    const game = this.game;
    const seq = game.moves.length;
    game.moves.push(cell);
    this.say("");
    this.settle();
    const reply = await this.forward(this.opponent().id, "move", { gameId: game.id, cell, seq });
    // Undelivered for sure (unlike a timeout): take the move back so every tab agrees.
    if (!reply.ok && reply.error !== "timeout" && game.moves.length === seq + 1) {
      game.moves.pop();
      this.settle();
    }
  }

  async resign() {
    if (!this.active) return;
    const game = this.game;
    game.resignedBy = this.me.id;
    this.settle();
    const reply = await this.forward(this.opponent().id, "resign", { gameId: game.id });
    // The opponent is gone: still tell this user's other tabs that the game is over.
    if (!reply.ok) await this.send(this.me.id, { type: "resign", game_id: game.id });
  }

  /** Close a finished game in this tab. */
  dismiss() {
    if (!this.game || this.active) return;
    this.closedIds.add(this.game.id);
    this.game = null;
    this.say("");
  }

  /** On every (re)connection to /forward: catch up with a game this user is playing.
   * Ask the opponent of the game this tab knows, or that another tab noted in storage
   * (the forward also reaches this user's other tabs); failing that, only those tabs. */
  async requestState() {
    const known = this.active
      ? { gameId: this.game.id, opponent: this.opponent().id }
      : this.loadHint();
    if (known) {
      const reply = await this.send(known.opponent, {
        type: "state_request",
        game_id: known.gameId,
      });
      if (reply.ok) return;
    }
    await this.send(this.me.id, { type: "state_request" });
  }

  /** The user with this id has no session left in /forward. */
  userLeft(user) {
    for (const [gameId, invitation] of this.incoming) {
      if (invitation.x.id === user.id) this.incoming.delete(gameId);
    }
    if (this.outgoing?.o.id === user.id) {
      this.outgoing = null;
      this.notice = `${user.username} went offline.`;
    }
    if (this.active && this.opponent().id === user.id) {
      this.notice = `${user.username} went offline; the game goes on when they are back.`;
    }
    this.changed();
  }

  /** The user with this id has a first session in /forward again. */
  userJoined(user) {
    if (this.active && this.opponent().id === user.id) this.say("");
  }

  // --- what arrives from /forward -------------------------------------------------------

  receive(message) {
    const handler = this.handlers[message.type];
    if (!handler || typeof message.sender !== "number") return;
    handler.call(this, message, message.sender === this.me.id);
    this.changed();
  }

  handlers = {
    invite(message, fromMyTab) {
      const invitation = this.invitationOf(message);
      if (!invitation) return;
      if (fromMyTab) {
        this.outgoing = invitation;
      } else if (invitation.x.id === message.sender && invitation.o.id === this.me.id) {
        if (this.active) {
          this.forward(message.sender, "decline", { gameId: invitation.gameId, reason: "busy" });
        } else {
          this.incoming.set(invitation.gameId, invitation);
        }
      }
    },

    cancel(message, fromMyTab) {
      if (fromMyTab && this.outgoing?.gameId === message.game_id) this.outgoing = null;
      if (!fromMyTab) this.incoming.delete(message.game_id);
    },

    accept(message, fromMyTab) {
      const invitation = this.invitationOf(message);
      if (!invitation) return;
      if (fromMyTab) {
        this.incoming.delete(invitation.gameId);
        if (!this.active && invitation.o.id === this.me.id) this.start(gameOf(invitation));
        return;
      }
      if (invitation.x.id !== this.me.id || invitation.o.id !== message.sender) return;
      if (this.game?.id === invitation.gameId) return;
      if (this.active) {
        this.forward(message.sender, "abort", { gameId: invitation.gameId });
      } else {
        this.start(gameOf(invitation));
      }
    },

    decline(message, fromMyTab) {
      if (fromMyTab) {
        this.incoming.delete(message.game_id);
      } else if (this.outgoing?.gameId === message.game_id) {
        const name = this.outgoing.o.username;
        this.outgoing = null;
        this.notice =
          message.reason === "busy" ? `${name} is playing another game.` : `${name} declined.`;
      }
    },

    move(message) {
      const game = this.game;
      if (!this.active || game.id !== message.game_id) return;
      if (message.seq > game.moves.length) {
        this.requestState(); // we missed a move
        return;
      }
      if (message.seq < game.moves.length && game.moves[message.seq] !== message.cell) {
        // Two tabs of the opponent moved at once; the first move to reach us counts,
        // and we tell all of their tabs so.
        if (message.sender !== this.me.id) this.sendState(message.sender, { correction: true });
        return;
      }
      const legal = message.seq === game.moves.length &&
        this.playerToMove().id === message.sender && isLegalMove(game.moves, message.cell);
      if (legal) {
        game.moves.push(message.cell);
        this.settle();
      }
    },

    resign(message) {
      if (!this.active || this.game.id !== message.game_id) return;
      const isPlayer = [this.game.x.id, this.game.o.id].includes(message.sender);
      if (!isPlayer) return;
      this.game.resignedBy = message.sender;
      this.settle();
    },

    abort(message) {
      if (!this.active || this.game.id !== message.game_id) return;
      this.game.aborted = true;
      this.settle();
    },

    state_request(message) {
      if (!this.active) return;
      const game = this.game;
      if (![game.x.id, game.o.id].includes(message.sender)) return;
      this.sendState(message.sender);
    },

    state(message) {
      const invitation = this.invitationOf(message);
      if (!invitation || !Array.isArray(message.moves)) return;
      if (![invitation.x.id, invitation.o.id].includes(this.me.id)) return;
      const theirs = {
        ...gameOf(invitation),
        moves: message.moves.filter(Number.isInteger).slice(0, 9),
        resignedBy: typeof message.resigned_by === "number" ? message.resigned_by : null,
      };
      const correction = message.correction === true && message.sender !== this.me.id;
      if (correction ? this.game?.id === theirs.id : this.shouldAdopt(theirs)) this.start(theirs);
    },
  };

  // --- helpers ----------------------------------------------------------------------------

  /** A newer view of our game, or a game in progress when this tab has none. */
  shouldAdopt(theirs) {
    if (this.closedIds.has(theirs.id)) return false;
    if (this.game?.id === theirs.id) {
      const mine = this.game;
      return theirs.moves.length > mine.moves.length ||
        (theirs.resignedBy !== null && mine.resignedBy === null);
    }
    return !this.active;
  }

  sendState(target, extra = {}) {
    const game = this.game;
    this.send(target, {
      type: "state",
      game_id: game.id,
      x: game.x,
      o: game.o,
      moves: game.moves,
      resigned_by: game.resignedBy,
      ...extra,
    });
  }

  invitationOf(message) {
    const valid = (user) => user && typeof user.id === "number" && typeof user.username === "string";
    if (typeof message.game_id !== "string" || !valid(message.x) || !valid(message.o)) return null;
    return { gameId: message.game_id, x: player(message.x), o: player(message.o) };
  }

  start({ id, x, o, moves = [], resignedBy = null }) {
    this.game = { id, x, o, moves: [...moves], resignedBy, aborted: false };
    this.incoming.delete(id);
    if (this.outgoing?.gameId === id) this.outgoing = null;
    this.notice = "";
    this.settle();
  }

  /** After any change of the game: keep the storage hint in step, then re-render. */
  settle() {
    if (this.active) {
      this.saveHint({ gameId: this.game.id, opponent: this.opponent().id });
    } else {
      this.forgetHint();
    }
    this.changed();
  }

  async forward(target, type, { gameId, x, o, ...fields }) {
    const payload = { type, game_id: gameId, ...fields };
    if (x) Object.assign(payload, { x, o });
    const reply = await this.send(target, payload);
    if (!reply.ok) {
      this.error =
        reply.error === "target_offline" ? "That player is not online any more." : reply.message;
      this.changed();
    }
    return reply;
  }

  /** A failure the server reported without an ack (docs/protocol.md, "Rules for every event"). */
  showError(text) {
    this.error = text;
    this.changed();
  }

  say(notice) {
    this.notice = notice;
    this.error = "";
    this.changed();
  }

  // Which game this user is playing, for a tab that reloads when it is the only one.
  saveHint(hint) {
    this.storage.setItem(HINT_KEY + this.me.id, JSON.stringify(hint));
  }

  loadHint() {
    try {
      return JSON.parse(this.storage.getItem(HINT_KEY + this.me.id));
    } catch {
      return null;
    }
  }

  forgetHint() {
    this.storage.removeItem(HINT_KEY + this.me.id);
  }

  changed() {
    this.dispatchEvent(new Event("change"));
  }
}
