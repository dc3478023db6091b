// Renders a GameController into the #game card, and turns clicks into its actions.

import { $, element, showError } from "./dom.js";
import { boardOf } from "./tictactoe.js";

export class GameView {
  constructor(controller) {
    this.controller = controller;
    this.card = $("game");
    this.status = $("game-status");
    this.invites = $("invites");
    this.board = $("board");
    this.resignButton = $("resign");
    this.dismissButton = $("dismiss");
    this.errorLine = $("game-error");
    this.cells = [...Array(9).keys()].map((index) => this.makeCell(index));
    this.board.replaceChildren(...this.cells);
    this.resignButton.addEventListener("click", () => controller.resign());
    this.dismissButton.addEventListener("click", () => controller.dismiss());
    controller.addEventListener("change", () => this.render());
    this.render();
  }

  makeCell(index) {
    const cell = element("button", {
      className: "cell",
      attrs: { type: "button", "data-cell": index, "aria-label": `Cell ${index + 1}` },
    });
    cell.addEventListener("click", () => this.controller.play(index));
    return cell;
  }

  render() {
    const game = this.controller;
    this.card.dataset.status = this.statusName();
    this.status.textContent = this.statusText();
    this.renderInvites();
    this.renderBoard();
    this.resignButton.hidden = !game.active;
    this.dismissButton.hidden = !game.game || game.active;
    showError(this.errorLine, game.error);
  }

  statusName() {
    const game = this.controller;
    if (game.game) return game.active ? "playing" : "over";
    if (game.outgoing) return "inviting";
    return game.incoming.size ? "invited" : "idle";
  }

  statusText() {
    const game = this.controller;
    if (!game.game) return game.notice || "Invite someone who is online to play.";
    const opponent = game.opponent().username;
    const outcome = game.outcome();
    if (!outcome) {
      const line = game.isMyTurn()
        ? `Your turn — you are ${game.myMark()} against ${opponent}.`
        : `${opponent}'s turn — you are ${game.myMark()}.`;
      return game.notice ? `${line} ${game.notice}` : line;
    }
    const iWon = outcome.winner?.id === game.me.id;
    switch (outcome.kind) {
      case "win":
        return iWon ? `You won against ${opponent}!` : `${opponent} won.`;
      case "draw":
        return `Draw with ${opponent}.`;
      case "resign":
        return iWon ? `${opponent} resigned: you won!` : `You resigned: ${opponent} won.`;
      default:
        return "The game was cancelled.";
    }
  }

  renderInvites() {
    const game = this.controller;
    const items = [...game.incoming.values()].map((invitation) =>
      element("div", { className: "invite", attrs: { "data-from": invitation.x.username } }, [
        element("span", { text: `${invitation.x.username} invites you to play.` }),
        this.button("Accept", () => game.accept(invitation.gameId)),
        this.button("Decline", () => game.decline(invitation.gameId), "secondary"),
      ]),
    );
    if (game.outgoing) {
      items.push(
        element("div", { className: "invite outgoing" }, [
          element("span", { text: `Waiting for ${game.outgoing.o.username} to accept…` }),
          this.button("Cancel", () => game.cancelInvite(), "secondary"),
        ]),
      );
    }
    this.invites.replaceChildren(...items);
  }

  renderBoard() {
    const game = this.controller;
    this.board.hidden = !game.game;
    if (!game.game) return;
    const board = boardOf(game.game.moves);
    const winning = game.outcome()?.line || [];
    // The whole board as one attribute ("X.O......"), so that tests can wait on it.
    this.board.dataset.board = board.map((mark) => mark || ".").join("");
    this.cells.forEach((cell, index) => {
      cell.textContent = board[index];
      cell.dataset.mark = board[index];
      cell.classList.toggle("winning", winning.includes(index));
      cell.disabled = !game.isMyTurn() || Boolean(board[index]);
    });
  }

  button(label, onClick, className = "") {
    const node = element("button", { text: label, className, attrs: { type: "button" } });
    node.addEventListener("click", onClick);
    return node;
  }
}
